// Pins the node:http internals server/request-body.ts relies on, so a Node upgrade that changes
// them fails here by name: the parser delivers a body through IncomingMessage#push (ending with
// push(null)), and `_consuming` is the flag node reads after a response to decide whether to
// drain ("dump") the request.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/net.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

describe('node:http internals used by request-body.ts', () => {
  it('delivers a request body through the instance push(), ending with push(null)', async () => {
    const pushed: (string | null)[] = [];
    const port = await serve((req, res) => {
      const push = req.push.bind(req);
      req.push = (chunk: unknown, enc?: BufferEncoding) => {
        pushed.push(chunk === null ? null : String(chunk));
        return push(chunk, enc);
      };
      req.on('end', () => res.end('ok'));
      req.resume();
    });
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello' });
    expect(await res.text()).toBe('ok');
    expect(pushed).toEqual(['hello', null]);
  });

  it('has a boolean _consuming that is false until the body is read, and node dumps an unconsumed request after the response', async () => {
    const seen: { before: unknown; dumped: boolean }[] = [];
    const port = await serve((req, res) => {
      const before = (req as unknown as { _consuming: unknown })._consuming;
      res.on('finish', () => setImmediate(() => seen.push({ before, dumped: (req as unknown as { _dumped: boolean })._dumped })));
      res.end('ok');
    });
    await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello' })).text();
    await waitFor(() => seen.length > 0, 'the response to finish');
    expect(seen).toEqual([{ before: false, dumped: true }]);
  });
});
