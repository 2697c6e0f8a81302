// Integration (single mode): the documented limit of a probe hit's request id. Each app call
// records its request only while a probe is set (server/app-calls.ts), so a request already in the
// app when the first probe came is named only when a frame at the hit holds it; in a helper after
// an await, its hit has no request id (`request: null`). A request begun after the probe is named.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, run } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';

const APP = 'test/fixtures/apps/late-request-app.ts';
const KEPT_LINE = lineOf(APP, 'const kept = bytes;');

afterAll(killAll);

describe('a probe hit of a request already in the app when the first probe came', () => {
  it('has no request id in a helper after an await; a request begun after the probe has its id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-late-'));
    const state = join(dir, 'tspuma.state');
    // Bodies stream to the app: the request is in it while its body is still coming. The pause
    // budget at its most: on a loaded machine one logpoint pause can outlast 200 ms of wall time,
    // and a probe suspended after the first hit never logs the second (not what this test is about).
    writeFileSync(join(dir, 'tspuma.config.mjs'), 'export default { bodyBufferSize: 0, probePauseBudget: 1000 };\n');
    const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP]);
    const send = (id: string) => {
      const req = request(`${s.url}/late`, { method: 'POST', headers: { 'transfer-encoding': 'chunked', 'x-request-id': id, connection: 'close' } });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      req.write('first chunk');
      return { req, answered };
    };
    // In the app (reading its body) before any probe is set.
    const early = send('late-early-1');
    const { control_url: controlUrl, control_auth_token: token } = JSON.parse(readFileSync(state, 'utf8')) as { control_url: string; control_auth_token: string };
    const stats = async () => (await (await fetch(`${controlUrl.replace(/^tcp:/, 'http:')}/stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as { busy_threads: number };
    await waitFor(async () => (await stats()).busy_threads === 1, 'the early request in the app');
    const set = run(['probe', 'log', `${APP}:${KEPT_LINE}`, 'kept {bytes}', '-S', state]);
    expect(await set.exited, set.stderr()).toBe(0);
    const id = Number(set.stdout().trim());
    early.req.end('!');
    expect(await early.answered).toBe(200);
    const after = send('late-after-2');
    after.req.end();
    expect(await after.answered).toBe(200);
    const hits = await waitFor(() => {
      const h = s.lines().filter((l) => l.probe === id && typeof l.values === 'object');
      return h.length === 2 ? h : null;
    }, 'both hits').catch((err: Error) => {
      throw new Error(`${err.message}; probe ${id}'s lines: ${JSON.stringify(s.lines().filter((l) => l.probe === id))}`);
    });
    expect(hits.map((h) => [h.request, h.values])).toEqual([
      [null, { bytes: 12 }],
      ['late-after-2', { bytes: 11 }],
    ]);
  }, 60_000);
});
