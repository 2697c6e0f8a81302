// examples/hono.ts through the CLI: Hono 4 from the real package serves its routes, streaming
// included; and the Host header (RFC 9112 §3.2): a Host that is not one valid authority, a second
// Host, or none on HTTP/1.1 gets 400 before any app runs. (The URL a fetch app routes on, built
// from a validated authority and an origin-form path, and absolute-form targets are
// fetch-conformance.test's, on its server of the same app.)
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { exchange } from '../helpers/http-raw.js';
import { SLOWNESS } from '../helpers/net.js';

let hono: Booted;
let port: number;

beforeAll(async () => {
  hono = await boot(['-b', 'tcp://127.0.0.1:0', join(ROOT, 'examples/hono.ts')]);
  port = Number(new URL(hono.url).port);
}, 40_000 * SLOWNESS);
afterAll(killAll);

const request = (target: string, hostLines: string) => `GET ${target} HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`;

// The serving case was cli.test's, where it booted examples/hono.ts once more for three requests.
describe('examples/hono.ts', () => {
  it('serves Hono 4 from the real package, streaming included', async () => {
    expect(await (await fetch(hono.url)).text()).toBe('Hello from Hono\n');
    expect(await (await fetch(`${hono.url}/json/ann`)).json()).toEqual({ name: 'ann', remote: '127.0.0.1' });
    expect(await (await fetch(`${hono.url}/stream`)).text()).toBe('line 0\nline 1\nline 2\n');
  });
});

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
