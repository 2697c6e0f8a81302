// Integration: `tspuma inspect list --url URL` against servers that are not a working discovery
// (one that accepts and closes, one that half-closes, one that stops mid-answer): each ends with
// exit code 1, TSPUMA_ERR_INSPECT_DISCOVERY naming the URL and what happened, and nothing on
// stdout. A server that never answers is test/unit/inspect-list.test.ts's (the same read, at a
// bound of 300 ms, not the command's 5 s).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, run } from '../helpers/cli.js';

const servers = new Set<net.Server>();

afterEach(async () => {
  await killAll();
  for (const s of servers) {
    s.close();
    for (const c of (s as net.Server & { tracked?: Set<net.Socket> }).tracked ?? []) c.destroy();
  }
  servers.clear();
});

/** A loopback server on a port of the kernel's choice that treats each connection with `onConnection`. */
async function misbehaving(onConnection: (c: net.Socket) => void, options: net.ServerOpts = {}): Promise<string> {
  const tracked = new Set<net.Socket>();
  const server = net.createServer(options, (c) => {
    tracked.add(c);
    c.on('close', () => tracked.delete(c));
    c.on('error', () => undefined);
    onConnection(c);
  });
  Object.assign(server, { tracked });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function inspectList(url: string) {
  const s = run(['inspect', 'list', '--url', url]);
  const code = await s.exited;
  return { code, stdout: s.stdout(), stderr: s.stderr() };
}

const prefix = (url: string) => `tspuma: TSPUMA_ERR_INSPECT_DISCOVERY: Cannot read the inspector list at ${url}/json/list (--url): `;

describe('tspuma inspect list against a server that is not a working discovery', () => {
  it('a server that accepts and destroys each connection: exit 1, the URL, "closed it without answering"', async () => {
    const url = await misbehaving((c) => c.destroy());
    const r = await inspectList(url);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${prefix(url)}the server accepted the connection and closed it without answering (ECONNRESET).`);
  });

  it('a server that accepts and half-closes (FIN, then silence; Node 20 fetch never settled and the command exited 0): exit 1, "closed it without answering"', async () => {
    const url = await misbehaving((c) => c.end(), { allowHalfOpen: true });
    const r = await inspectList(url);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${prefix(url)}the server accepted the connection and closed it without answering (ECONNRESET).`);
  });

  it('a server that sends a head and part of the body, then closes the connection: exit 1, "in the middle of its answer"', async () => {
    const url = await misbehaving((c) =>
      c.once('data', () => {
        c.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[{"id":');
        // A FIN after the bytes, not a reset: the client reads them before the close.
        c.end();
      }),
    );
    const r = await inspectList(url);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${prefix(url)}the server closed the connection in the middle of its answer (7 bytes read).`);
  });
});
