// The request line on a terminal: pino-pretty prints one line per request (the message carries
// every field), where the structured `request` object would otherwise take six more.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { rack } from '../../server/adapters.js';
import { createLogger } from '../../server/logger.js';
import type { Running } from '../../server/single.js';
import { start } from '../../server/start.js';
import { waitFor } from '../helpers/net.js';

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

/** A logger (pretty as on a TTY, or JSON) writing into a string; out() is what it wrote so far. */
function captured(pretty: boolean) {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ pretty, destination }), out: () => text };
}

describe('request lines on a TTY', () => {
  it('take one line each, with method, URL, status, time, bytes, remote and id', async () => {
    const { logger, out } = captured(true);
    const r = await start({ bind: 'tcp://127.0.0.1:0', logRequests: true, app: rack(() => [200, {}, ['hi']]) }, { logger });
    running.push(r);
    const url = `http://127.0.0.1:${r.listeners[0]!.port}`;
    for (const id of ['one', 'two']) await (await fetch(`${url}/path?q=1`, { headers: { 'x-request-id': id } })).text();
    await waitFor(() => out().includes(' two'), 'the second request line');
    // The lines that name the request: the server's own lines (its boot's, written through the
    // logger's asynchronous destination, came after the count of lines taken before the requests
    // at a load of 35: 3 lines, not 2) are not request lines.
    // eslint-disable-next-line no-control-regex
    const lines = out().replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.includes('/path'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/INFO.*: GET \/path\?q=1 200 [\d.]+ms \d+B 127\.0\.0\.1 one$/);
    expect(lines[1]).toMatch(/ two$/);
  });

  it('an id the app assigns with spaces, a newline or terminal escapes (from a header, say) is quoted and escaped: still one line, the raw id in the JSON field', async () => {
    const odd = 'abc def\n[12:00:00.000] INFO: GET /admin 200\u001b[2J\u009b31m';
    const { logger, out } = captured(true);
    const app = (req: IncomingMessage & { id?: unknown }, res: ServerResponse) => {
      req.id = req.url === '/odd' ? odd : 'plain-id';
      res.end('ok');
    };
    const r = await start({ bind: 'tcp://127.0.0.1:0', logRequests: true, app }, { logger });
    running.push(r);
    const url = `http://127.0.0.1:${r.listeners[0]!.port}`;
    const before = out().split('\n').length;
    await (await fetch(`${url}/odd`)).text();
    await (await fetch(`${url}/plain`)).text();
    await waitFor(() => out().includes('plain-id'), 'the second request line');
    const lines = out().split('\n').slice(before - 1).filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(2);
    // Only pino-pretty's own colours are escapes; the id's are spelled out.
    // eslint-disable-next-line no-control-regex
    const plain = lines.map((l) => l.replace(/\x1b\[(?:3\d|39)m/g, ''));
    expect(plain[0]).toMatch(/INFO.*: GET \/odd 200 [\d.]+ms \d+B 127\.0\.0\.1 "abc def\\n\[12:00:00\.000\] INFO: GET \/admin 200\\u001b\[2J\\u009b31m"$/);
    expect(plain[1]).toMatch(/ plain-id$/);
  });

  it('in JSON, the request object keeps the id the app assigned, unquoted', async () => {
    const { logger, out } = captured(false);
    const app = (req: IncomingMessage & { id?: unknown }, res: ServerResponse) => {
      req.id = 'abc def';
      res.end('ok');
    };
    const r = await start({ bind: 'tcp://127.0.0.1:0', logRequests: true, app }, { logger });
    running.push(r);
    await (await fetch(`http://127.0.0.1:${r.listeners[0]!.port}/x`)).text();
    const line = await waitFor(() => out().split('\n').find((l) => l.includes('"request"')), 'the request line');
    const parsed = JSON.parse(line) as { msg: string; request: { id: string } };
    expect(parsed.request.id).toBe('abc def');
    expect(parsed.msg).toMatch(/ "abc def"$/);
  });
});
