// Integration: maxKeepAlive is each connection's upper bound, and a connection's own limit is
// spread below it (server/connection-limit.ts), so the connections of a client pool that serve at
// one rate do not all reach it, close and reconnect together (findings cluster3.3). Seen as a
// client sees it: requests one after another on a connection until a response says
// `Connection: close`, then the server's FIN. The process's first close comes at its 64th request
// (FIRST_CLOSE_AT) when every connection's limit lies above it: node's close path taken while its
// code is cold (server/connection-limit.ts).
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';
import { parseResponse } from '../helpers/http-raw.js';
import { SLOWNESS } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';
import { FIRST_CLOSE_AT } from '../../server/connection-limit.js';

afterAll(killAll);

const APP = join(ROOT, 'test/fixtures/cluster-app.mjs');
/** Spread over its top eighth: limits 36 to 40. */
const MAX = 40;
const CONNECTIONS = 8;

interface Served {
  /** Responses the connection carried; the last one said Connection: close. */
  count: number;
  /** Connection header of each response before the last. */
  before: string[];
  /** The server ended the connection after its close response. */
  ended: boolean;
}

/** Requests one at a time on one connection until a response says Connection: close (at most `most`, then the client ends it). */
function serveUntilClose(port: number, most = MAX + 1): Promise<Served> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`connection not closed by the server within ${20_000 * SLOWNESS} ms (${count} responses)`));
    }, 20_000 * SLOWNESS);
    let buf = Buffer.alloc(0);
    let count = 0;
    let last = false;
    const before: string[] = [];
    const send = () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    c.on('connect', send);
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseResponse(buf);
      if (!r?.complete) return;
      buf = Buffer.alloc(0);
      count++;
      expect(r.status).toBe(200);
      const connection = (r.headers.connection ?? []).join(',').toLowerCase();
      if (connection === 'close') last = true;
      else before.push(connection);
      if (last) return;
      if (count < most) send();
      else c.end();
    });
    c.on('end', () => {
      clearTimeout(timer);
      c.destroy();
      resolve({ count, before, ended: last });
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('maxKeepAlive, spread per connection', () => {
  it(`closes each of ${CONNECTIONS} connections at its own limit, from ${MAX - MAX / 8 + 1} to ${MAX} requests (maxKeepAlive ${MAX}), not all at the same count: Connection: close on that response, then the server's FIN`, async () => {
    const dir = tempDir('mka');
    const config = join(dir, 'tspuma.config.mjs');
    writeFileSync(config, `export default { maxKeepAlive: ${MAX} };\n`);
    const s = await boot(['-C', config, '-b', 'tcp://127.0.0.1:0', APP]);
    const port = Number(new URL(s.url).port);
    const counts: number[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const served = await serveUntilClose(port);
      expect(served.ended, `connection ${i}: the server closed it after a Connection: close response`).toBe(true);
      expect(served.before.every((h) => h === 'keep-alive'), `connection ${i}: every earlier response kept it alive (${served.before.join(' ')})`).toBe(true);
      counts.push(served.count);
    }
    for (const n of counts) {
      expect(n, `limits ${counts.join(' ')}`).toBeGreaterThanOrEqual(MAX - MAX / 8 + 1);
      expect(n, `limits ${counts.join(' ')}`).toBeLessThanOrEqual(MAX);
    }
    expect(new Set(counts).size, `limits ${counts.join(' ')}`).toBeGreaterThan(1);
  });
});

describe('the process\'s first close, brought forward', () => {
  it(`answers the process's ${FIRST_CLOSE_AT}th request with Connection: close under the default maxKeepAlive (999: limits 876-999), then keeps later connections alive past it`, async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', APP]);
    const port = Number(new URL(s.url).port);
    const first = await serveUntilClose(port, 1000);
    expect(first.ended, `the server closed the first connection after a Connection: close response (${first.count} responses)`).toBe(true);
    expect(first.count).toBe(FIRST_CLOSE_AT);
    expect(first.before.every((h) => h === 'keep-alive'), `every earlier response kept it alive (${first.before.join(' ')})`).toBe(true);
    const second = await serveUntilClose(port, 3 * FIRST_CLOSE_AT);
    expect(second.ended, `the second connection was not closed by the server (${second.count} responses)`).toBe(false);
    expect(second.count).toBe(3 * FIRST_CLOSE_AT);
    expect(second.before.every((h) => h === 'keep-alive')).toBe(true);
  });
});
