// The Host header and absolute-form targets (RFC 9112 §3.2, §3.2.2): a Host that is not one valid
// authority, a second Host, or none on HTTP/1.1 gets 400 before any app runs; the URL a fetch app
// routes on is built from a validated authority and an origin-form path, so no Host value can
// move the path Hono routes on; an absolute-form target names its own authority.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { exchange } from '../helpers/http-raw.js';
import { SLOWNESS } from '../helpers/net.js';

let hono: Booted;
let port: number;
let echo: Booted;
let echoPort: number;

beforeAll(async () => {
  [hono, echo] = await Promise.all([
    boot(['-b', 'tcp://127.0.0.1:0', join(ROOT, 'examples/hono.ts')]),
    boot(['-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/apps/fetch-conformance-app.ts')]),
  ]);
  port = Number(new URL(hono.url).port);
  echoPort = Number(new URL(echo.url).port);
}, 40_000 * SLOWNESS);
afterAll(killAll);

const request = (target: string, hostLines: string) => `GET ${target} HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`;

describe('examples/hono.ts refuses every malformed Host with 400, before routing', () => {
  const shapes: [what: string, hostLines: string][] = [
    ['a path and query in Host (Host: t/json/ADMIN?)', 'Host: t/json/ADMIN?\r\n'],
    ['a dot-segment path in Host (Host: t:1/admin/../secret?)', 'Host: t:1/admin/../secret?\r\n'],
    ['a space (Host: a b)', 'Host: a b\r\n'],
    ['userinfo (Host: evil@t)', 'Host: evil@t\r\n'],
    ['a port over 65535 (Host: localhost:65536)', 'Host: localhost:65536\r\n'],
    ['a port that is not digits (Host: t:8o)', 'Host: t:8o\r\n'],
    ['two Host headers', 'Host: t\r\nHost: u\r\n'],
    ['no Host on HTTP/1.1', ''],
  ];
  for (const [what, hostLines] of shapes) {
    it(what, async () => {
      const r = await exchange(port, request('/nothing-here', hostLines));
      expect(r.status).toBe(400);
      expect(r.body.toString()).not.toContain('"name"');
    });
  }

  it('a valid Host (name, IPv4, IPv6 literal, with and without a port) reaches the app', async () => {
    for (const host of ['t', 'example.com:8080', '127.0.0.1:9292', '[::1]:80', 'xn--bcher-kva.example']) {
      const r = await exchange(port, request('/', `Host: ${host}\r\n`));
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
  });
});

describe('the URL a fetch app gets', () => {
  const urlOf = async (target: string, hostLines: string) => {
    const r = await exchange(echoPort, request(target, hostLines));
    expect(r.status).toBe(200);
    return (JSON.parse(r.body.toString()) as { url: string }).url;
  };

  it('is the Host authority and the target path, normalised as a URL is', async () => {
    expect(await urlOf('/echo?x=1', 'Host: Example.COM:80\r\n')).toBe('http://example.com/echo?x=1');
    expect(await urlOf('/a/../echo', 'Host: t:8080\r\n')).toBe('http://t:8080/echo');
  });

  it('an absolute-form target (GET http://other.example/x) uses its own authority, not Host', async () => {
    expect(await urlOf('http://other.example/echo?q=1', 'Host: t\r\n')).toBe('http://other.example/echo?q=1');
  });

  it('an absolute-form target with an invalid authority gets 400', async () => {
    const r = await exchange(echoPort, request('http://evil@other.example/echo', 'Host: t\r\n'));
    expect(r.status).toBe(400);
  });
});
