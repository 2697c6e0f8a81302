// The control app's client (tspuma probe, tspuma replay): a control app that cannot be reached
// (nothing listens, or a hung primary accepts and never answers) is its own coded error naming the
// URL and where it came from, not a command-line usage error (M5.5).
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { controlRequest, controlTarget } from '../../server/cli/control-client.js';
import { TspumaError } from '../../server/errors.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listen(onConnection: (s: Socket) => void = () => {}): Promise<number> {
  const server = createServer((s) => {
    sockets.push(s);
    onConnection(s);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

async function failure(p: Promise<unknown>): Promise<TspumaError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(TspumaError);
  return err as TspumaError;
}

const usage = (problem: string): never => {
  throw new Error(problem);
};

describe('controlRequest', () => {
  it('a port nothing listens on: TSPUMA_ERR_CONTROL_UNREACHABLE naming the URL, that it came from --control-url, and ECONNREFUSED; no --help hint', async () => {
    const port = await listen();
    await new Promise((r) => servers.pop()!.close(r));
    const target = controlTarget({ url: `tcp://127.0.0.1:${port}`, token: 't' }, usage);
    const err = await failure(controlRequest(target, 'GET', '/probes'));
    expect(err.code).toBe('TSPUMA_ERR_CONTROL_UNREACHABLE');
    expect(err.message).toContain(`tcp://127.0.0.1:${port}`);
    expect(err.message).toContain('--control-url');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).not.toContain('--help');
  });

  it('a control app that accepts and never answers (a hung primary): TSPUMA_ERR_CONTROL_UNREACHABLE saying how long it waited, from the state file', async () => {
    const port = await listen();
    const target = controlTarget({ url: `tcp://127.0.0.1:${port}`, token: 't' }, usage);
    target.from = 'the state file /tmp/x.state';
    const err = await failure(controlRequest(target, 'GET', '/probes', undefined, 300));
    expect(err.code).toBe('TSPUMA_ERR_CONTROL_UNREACHABLE');
    expect(err.message).toContain('sent no answer within 0.3 s');
    expect(err.message).toContain('the state file /tmp/x.state');
  });
});
