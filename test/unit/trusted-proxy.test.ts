// trustProxy: the forwarded client is read only from trusted peers, walking the chain from the
// nearest hop; it shows in the Rack env, the fetch Request, req.clientAddress and the request log.
import http from 'node:http';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHandler, nodeListener, rack } from '../../server/adapters.js';
import { TspumaError } from '../../server/errors.js';
import { resolveOptions } from '../../server/options.js';
import { compileTrust, forwardedOf, hopAddress, parseForwarded, resolveClient } from '../../server/trusted-proxy.js';
import { startTest, stopAll } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

afterEach(stopAll);

/** A request as node:http hands it over: a peer and raw headers. */
function fakeRequest(peer: string, headers: [string, string][]): IncomingMessage {
  return { socket: { remoteAddress: peer }, rawHeaders: headers.flat() } as unknown as IncomingMessage;
}

describe('the trust list', () => {
  it('takes addresses, CIDRs and the names loopback, linklocal, uniquelocal', () => {
    const trust = compileTrust(['loopback', '10.0.0.0/8', '192.0.2.7']);
    expect(trust('127.0.0.1', 0)).toBe(true);
    expect(trust('::1', 0)).toBe(true);
    expect(trust('10.20.30.40', 0)).toBe(true);
    expect(trust('192.0.2.7', 0)).toBe(true);
    expect(trust('192.0.2.8', 0)).toBe(false);
    expect(compileTrust(['linklocal'])('169.254.1.1', 0)).toBe(true);
    expect(compileTrust(['uniquelocal'])('192.168.1.1', 0)).toBe(true);
    // unix: the peer of a unix socket, which has no address ('').
    expect(compileTrust(['unix'])('', 0)).toBe(true);
    expect(compileTrust(['unix'])('127.0.0.1', 0)).toBe(false);
    expect(compileTrust(['unix', 'loopback'])('127.0.0.1', 0)).toBe(true);
    expect(compileTrust(['loopback'])('', 0)).toBe(false);
  });

  it('refuses an entry that is none of them, naming it, the option and the source', () => {
    let err: unknown;
    try {
      resolveOptions([{ source: 'command line', values: { trustProxy: 'loopback,10.0.0.0/99' }, origins: { trustProxy: '--trust-proxy' }, fromString: true }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect((err as TspumaError).message).toContain('trustProxy');
    expect((err as TspumaError).message).toContain('--trust-proxy');
    expect((err as TspumaError).message).toContain('"10.0.0.0/99" is not an IP address');
  });

  it('is off by default and reads comma-separated text as a list', () => {
    expect(resolveOptions([]).trustProxy).toBeNull();
    expect(resolveOptions([{ source: 'environment', values: { trustProxy: 'loopback, 10.0.0.0/8' }, fromString: true }]).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(resolveOptions([]).trustProxyHeaders).toBe('x-forwarded');
  });
});

describe('resolveClient', () => {
  const trust = compileTrust(['loopback', '10.0.0.0/8']);

  it('ignores every header from a peer that is not trusted', () => {
    const req = fakeRequest('198.51.100.5', [['X-Forwarded-For', '1.1.1.1'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'evil.example']]);
    resolveClient(req, trust, 'x-forwarded');
    expect(forwardedOf(req)).toBeUndefined();
    expect((req as IncomingMessage & { clientAddress: string }).clientAddress).toBe('198.51.100.5');
  });

  it('walks X-Forwarded-For right to left while hops are trusted; a client-written entry left of the client is ignored', () => {
    // The client 203.0.113.9 sent "X-Forwarded-For: 6.6.6.6"; two trusted proxies appended.
    const req = fakeRequest('127.0.0.1', [['X-Forwarded-For', '6.6.6.6, 203.0.113.9'], ['x-forwarded-for', '10.1.2.3'], ['X-Forwarded-Proto', 'http, https'], ['X-Forwarded-Host', 'shop.example:8443']]);
    resolveClient(req, trust, 'x-forwarded');
    expect(forwardedOf(req)).toEqual({ address: '203.0.113.9', scheme: 'https', host: 'shop.example:8443' });
    expect((req as IncomingMessage & { clientAddress: string }).clientAddress).toBe('203.0.113.9');
  });

  it('stops at the last trusted hop when the next entry is not an address, and drops a bad proto or host', () => {
    const req = fakeRequest('127.0.0.1', [['X-Forwarded-For', 'unknown'], ['X-Forwarded-Proto', 'gopher'], ['X-Forwarded-Host', 'a b/c']]);
    resolveClient(req, trust, 'x-forwarded');
    expect(forwardedOf(req)).toEqual({ address: '127.0.0.1', scheme: null, host: null });
  });

  it('reads Forwarded only when told to, and then ignores X-Forwarded-For', () => {
    const headers: [string, string][] = [['X-Forwarded-For', '6.6.6.6'], ['Forwarded', 'for="[2001:db8::17]:4711";proto=https;host=app.example, for=10.0.0.2;proto=http']];
    const xf = fakeRequest('127.0.0.1', headers);
    resolveClient(xf, trust, 'x-forwarded');
    expect(forwardedOf(xf)?.address).toBe('6.6.6.6');
    const fw = fakeRequest('127.0.0.1', headers);
    resolveClient(fw, trust, 'forwarded');
    // The outermost element a trusted proxy added describes the client's own connection.
    expect(forwardedOf(fw)).toEqual({ address: '2001:db8::17', scheme: 'https', host: 'app.example' });
  });

  it('parses Forwarded elements with quotes, case and spaces', () => {
    expect(parseForwarded('For="[::1]:80"; Proto=HTTPS, for=192.0.2.60;by=203.0.113.43')).toEqual([{ for: '[::1]:80', proto: 'HTTPS' }, { for: '192.0.2.60', by: '203.0.113.43' }]);
    expect(hopAddress('192.0.2.1:8080')).toBe('192.0.2.1');
    expect(hopAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(hopAddress('_hidden')).toBeNull();
  });
});

/** A GET with the given headers; resolves with the body. */
/** A GET to 127.0.0.1:port, or through a unix socket's path. */
function get(port: number | string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ ...(typeof port === 'string' ? { socketPath: port } : { host: '127.0.0.1', port }), path: '/p?q=1', headers: { host: 'backend:9000', ...headers } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const FORWARDED = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };

describe('a server with trustProxy', () => {
  const rackApp = rack((env) => [200, {}, [`${env.REMOTE_ADDR} ${env['rack.url_scheme']} ${env.SERVER_NAME} ${env.SERVER_PORT}`]]);

  it('gives a Rack app the forwarded client, scheme and host from a trusted peer', async () => {
    const t = await startTest({ app: rackApp, trustProxy: ['loopback'] });
    expect(await get(t.port, FORWARDED)).toBe('203.0.113.9 https shop.example 443');
  });

  it('keeps the peer and Host for an untrusted peer, and by default', async () => {
    const untrusted = await startTest({ app: rackApp, trustProxy: ['10.0.0.0/8'] });
    expect(await get(untrusted.port, FORWARDED)).toBe('127.0.0.1 http backend 9000');
    const off = await startTest({ app: rackApp });
    expect(await get(off.port, FORWARDED)).toBe('127.0.0.1 http backend 9000');
  });

  it('ignores a trusted X-Forwarded-Host or Forwarded host= that is not one valid authority (evil:99999, a/b, u@h): Host names the server', async () => {
    const t = await startTest({ app: rackApp, trustProxy: ['loopback'] });
    for (const host of ['evil:99999', 'evil.example/admin', 'user@evil.example', 'a b']) {
      expect(await get(t.port, { ...FORWARDED, 'x-forwarded-host': host })).toBe('203.0.113.9 https backend 9000');
    }
    const fw = await startTest({ app: rackApp, trustProxy: ['loopback'], trustProxyHeaders: 'forwarded' });
    expect(await get(fw.port, { forwarded: 'for=203.0.113.9;proto=https;host="evil:99999"' })).toBe('203.0.113.9 https backend 9000');
  });

  it("puts the forwarded scheme and host in the fetch Request's URL", async () => {
    const t = await startTest({ app: fetchHandler((request) => new Response(request.url)), trustProxy: ['loopback'] });
    expect(await get(t.port, FORWARDED)).toBe('https://shop.example/p?q=1');
  });

  it('gives a Node listener req.clientAddress, with req.socket.remoteAddress still the proxy', async () => {
    const app = nodeListener((req, res) => res.end(`${(req as IncomingMessage & { clientAddress: string }).clientAddress} ${req.socket.remoteAddress}`));
    const t = await startTest({ app, trustProxy: ['loopback'] });
    expect(await get(t.port, FORWARDED)).toBe('203.0.113.9 127.0.0.1');
  });

  // nginx on the same host through a unix socket (docs/deployment.md): the peer has no address,
  // so no address or range can name it (review14.1: the headers were never read).
  it('trusts a unix socket\'s peer when the list names unix, and only then', async () => {
    const dir = tempDir('trust-unix');
    const trusted = await startTest({ app: rackApp, trustProxy: ['unix'], bind: `unix://${join(dir, 'a.sock')}` });
    expect(trusted.running.listeners).toHaveLength(1);
    expect(await get(join(dir, 'a.sock'), FORWARDED)).toBe('203.0.113.9 https shop.example 443');
    await startTest({ app: rackApp, trustProxy: ['loopback'], bind: `unix://${join(dir, 'b.sock')}` });
    expect(await get(join(dir, 'b.sock'), FORWARDED)).toBe(' http backend 9000');
    // A TCP peer is not a unix socket's.
    const tcp = await startTest({ app: rackApp, trustProxy: ['unix'] });
    expect(await get(tcp.port, FORWARDED)).toBe('127.0.0.1 http backend 9000');
  });

  it("logs the forwarded client as the request line's remote", async () => {
    const t = await startTest({ app: rackApp, trustProxy: ['loopback'], logRequests: true });
    await get(t.port, FORWARDED);
    const line = t.lines.find((l) => l.request !== undefined) as { request: { remote: string }; msg: string } | undefined;
    expect(line?.request.remote).toBe('203.0.113.9');
    expect(line?.msg).toContain(' 203.0.113.9 ');
  });
});
