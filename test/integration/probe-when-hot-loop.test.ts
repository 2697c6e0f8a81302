// A false `--when` compiled into the live-edit gate, on a line that runs 1,500 times a request, in
// a -w 1 cluster's worker, under the default pause budget (200 ms per second): never suspended by it, and
// it hits where it holds. On a loaded machine one hit's pause (its template read, retried when
// V8's 50 ms evaluation timeout ends it off the CPU) once took 213 ms of wall time and suspended
// the probe when the budget counted wall time; the budget now charges the CPU time the
// thread ran (inspector/probe-budget.ts), so such a pause is charged its few ms of work. The same
// probe on a breakpoint (probeLiveEdit: false, V8 evaluating the condition at each of the 1,500
// false passes an order) goes over the budget and is suspended: the test fails then. One worker: the
// budget is each worker's own, and a second (a -w 2 cluster, as this was) booted another Express
// worker and made another live edit of it for the same promise.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeView } from '../../server/cluster/probe-registry.js';
import { boot, controlUrl, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { postOrder } from '../helpers/orders.js';
import { answeredView } from '../helpers/probe-answered.js';
import { tempDir } from '../helpers/temp.js';

const EXPRESS = join(ROOT, 'examples/express.ts');
const TOKEN = 'probe-token-hot-loop-0123456789';
const LOOP_LINE = lineOf('examples/express.ts', 'subtotal += item.price * item.quantity;');

let s: Booted;
let control: string;

const order = (body: unknown) => postOrder(s.url, body, {});

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as T };
}

const hitsOf = (id: number) => s.lines().filter((l) => l.probe === id && typeof l.values === 'object');

beforeAll(async () => {
  const dir = tempDir('probe-hot');
  writeFileSync(join(dir, 'tspuma.config.mjs'), 'export default { workerCheckInterval: 1, workerShutdownTimeout: 5 };\n');
  s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, '-S', join(dir, 'tspuma.state'), EXPRESS]);
  control = await controlUrl(s);
});

afterAll(killAll);

describe('a compiled --when on a hot loop line (-w 1, live edit)', () => {
  it('a false --when compiled into the gate on a hot loop line is never suspended, and hits where it holds', async () => {
    const set = await api<ProbeView>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${LOOP_LINE}`, template: 'dear {item.sku}', when: 'item.price > 999', rate: 10000, by: 'the test' });
    expect(set.status).toBe(201);
    const id = set.body.id;
    const armed = await answeredView(async () => (await api<ProbeView>('GET', `/probes/${id}`)).body);
    for (const w of Object.values(armed.workers)) expect(w.at ?? JSON.stringify(armed.workers)).toMatch(/\(condition compiled into the gate; gate compiled in by live edit: [\d.]+ ms\)$/);
    // 1500 passes of the line per order, the condition false at each.
    const cheap = Array.from({ length: 1500 }, (_, i) => ({ sku: `S${i}`, price: 1, quantity: 1 }));
    for (let round = 0; round < 6; round++) await Promise.all(Array.from({ length: 4 }, () => order({ items: cheap })));
    const deadline = Date.now() + 40_000 * SLOWNESS;
    for (let round = 0; round < 200 && Date.now() < deadline && hitsOf(id).length < 4; round++) {
      await Promise.all(Array.from({ length: 4 }, () => order({ items: [...cheap, { sku: 'DEAR', price: 5000, quantity: 1 }] })));
    }
    await waitFor(() => hitsOf(id).length >= 4, 'the hits of four orders', 10_000);
    expect(hitsOf(id).every((l) => l.msg === `probe ${id} examples/express.ts:${LOOP_LINE} [${String(l.request)}]: dear DEAR`)).toBe(true);
    expect(s.lines().filter((l) => l.probe === id && l.code === 'TSPUMA_ERR_PROBE_BUDGET')).toEqual([]);
    const view = (await api<ProbeView>('GET', `/probes/${id}`)).body;
    expect(Object.values(view.workers).map((w) => w.state)).toEqual(['armed']);
  }, 120_000 * SLOWNESS);
});
