// Integration: probes on a real `-w 2` cluster serving examples/express.ts (no --debug, no
// --inspect: no inspector port is opened), driven by `tspuma probe` and the control app's
// /probes: logpoints from both workers with their values, --when, --hits and --for, a worker
// killed with SIGKILL coming back armed, a snapshot with its locals and secrets redacted, the
// pause budget suspending a probe in a hot loop (and not one whose false --when is compiled into
// its gate), and a line with no code refused.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import type { ProbeView } from '../../server/cluster/probe-registry.js';
import { boot, controlUrl, killAll, run, ROOT, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { items, postOrder } from '../helpers/orders.js';
import { tempDir } from '../helpers/temp.js';

const EXPRESS = join(ROOT, 'examples/express.ts');
const TOKEN = 'probe-token-0123456789abcdef';
/** Lines of examples/express.ts the probes go on, found by their text. */
const CHARGE_LINE = lineOf('examples/express.ts', 'const charge = await chargeCard(order, paymentApiKey);');
const LOOP_LINE = lineOf('examples/express.ts', 'subtotal += item.price * item.quantity;');
/** chargeCard's first line (before its await: the handler that called it, and its request, are on the stack). */
const CARD_LINE = lineOf('examples/express.ts', 'async function chargeCard(') + 1;
const INTERFACE_LINE = lineOf('examples/express.ts', 'sku: string;');
/** A line of the helper module examples/users-repo.ts after its await: no frame on the stack holds the request. */
const FOUND_LINE = lineOf('examples/users-repo.ts', 'const account = { id, name:');
/** A --when true at CHARGE_LINE that calls a function: V8 evaluates it at a conditional breakpoint (no live edit). */
const ALWAYS = 'String(order.id).length > 0';

let s: Booted;
let control: string;
let state: string;
let dumps: string;

const order = (body: unknown, headers: Record<string, string> = {}) => postOrder(s.url, body, headers);

/** `tspuma probe ARGS -S STATE`, to its exit. */
async function probe(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = run(['probe', ...args, '-S', state]);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as T };
}

/** The log lines of probe `id` (each hit: one line, written by the worker that hit it). */
const hitsOf = (id: number) => s.lines().filter((l) => l.probe === id && typeof l.values === 'object');

/** Sends orders in parallel rounds (`parallel` at once) until pred() holds (bounded in rounds and time). */
async function ordersUntil(pred: () => boolean, body: () => unknown, what: string, parallel = 8): Promise<void> {
  const deadline = Date.now() + 40_000;
  for (let round = 0; round < 200 && Date.now() < deadline; round++) {
    if (pred()) return;
    await Promise.all(Array.from({ length: parallel }, () => order(body())));
  }
  await waitFor(pred, what, 10_000);
}

beforeAll(async () => {
  const dir = tempDir('probes');
  state = join(dir, 'tspuma.state');
  dumps = join(dir, 'dumps');
  // workerShutdownTimeout 5 s scaled (SLOWNESS): a bound on the stops of healthy workers (TTOU, the last case's SIGTERM).
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { workerCheckInterval: 1, workerShutdownTimeout: ${5 * SLOWNESS} };\n`);
  s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '2', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, '-S', state, EXPRESS], { TSPUMA_DUMP_DIR: dumps });
  control = await controlUrl(s);
  await waitFor(() => s.lines().some((l) => String(l.msg).startsWith('- All 2 workers booted')), 'both workers booted');
});

afterEach(async () => {
  // (The last test stops the cluster.)
  if (s.proc.exitCode === null) await api('DELETE', '/probes?all=1');
});

afterAll(killAll);

describe('tspuma probe on a -w 2 cluster (no --debug, no --inspect)', () => {
  it('a logpoint on a .ts line logs hits from both workers with the template values; no inspector port was opened', async () => {
    const set = await probe(['log', `examples/express.ts:${CHARGE_LINE}`, 'charged {order.id} total={order.total} key={paymentApiKey}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    expect(set.err).toMatch(new RegExp(`probe ${id} set: logpoint at examples/express.ts:${CHARGE_LINE}`));
    await ordersUntil(() => new Set(hitsOf(id).map((l) => l.worker)).size === 2, () => ({ items: items(42, 2) }), 'hits from both workers').catch(async (err: Error) => {
      // Timed out under load (40 s at a load of 15.5): what each worker made of the probe says why.
      const view = await api<{ workers: unknown }>('GET', `/probes/${id}`).catch((e: Error) => ({ body: { workers: e.message } }));
      throw new Error(`${err.message}; workers of probe ${id}: ${JSON.stringify(view.body.workers)}; its lines: ${JSON.stringify(s.lines().filter((l) => l.probe === id).slice(0, 6))}`);
    });
    const line = hitsOf(id)[0]!;
    expect(line.msg).toMatch(new RegExp(`^probe ${id} examples/express.ts:${CHARGE_LINE} \\[[^\\]]+\\]: charged \\d+ total=84 key=\\[redacted\\]$`));
    expect(line.values).toMatchObject({ 'order.total': 84, paymentApiKey: '[redacted]' });
    expect(typeof line.request).toBe('string');
    expect(new Set(hitsOf(id).map((l) => l.pid)).size).toBe(2);
    // Set from the CLI: who asked and from where, never the token.
    const setLine = s.lines().find((l) => String(l.msg).startsWith(`Probe ${id} set by `))!;
    expect(setLine.msg).toMatch(/set by \S+@\S+ \(tspuma probe log\) from 127\.0\.0\.1: logpoint/);
    expect(s.stdout()).not.toContain(TOKEN);
    expect(s.stdout() + s.stderr()).not.toMatch(/Debugger listening|\* Inspector of/);
  }, 60_000 * SLOWNESS);

  it('--when filters: only hits where it holds are logged', async () => {
    const set = await probe(['log', `examples/express.ts:${CHARGE_LINE}`, 'big {order.total}', '--when', 'order.total > 100']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    for (let i = 0; i < 10; i++) expect((await order({ items: items(5) })).status).toBe(201);
    await ordersUntil(() => hitsOf(id).length > 0, () => ({ items: items(500) }), 'a hit over 100');
    expect(hitsOf(id).every((l) => (l.values as Record<string, number>)['order.total'] === 500)).toBe(true);
  });

  // Both probes' --when calls a function, so each worker arms them as conditional breakpoints: a
  // live edit walks an Express worker's heap (set and removed, four probes' edits in two workers
  // were most of this case's CPU); a logpoint's live edit and its removal are the cases above and below.
  it('--hits removes it once the workers\' hits add up; --for expires it; both are logged', async () => {
    const hits = await probe(['log', `examples/express.ts:${CHARGE_LINE}`, 'n {order.id}', '--hits', '3', '--when', ALWAYS]);
    // The command's own failure, not a wait for the line of probe NaN (order8: at a load of 20 the
    // expiry line's wait ran out, with no word of what the command said).
    expect(hits.code, hits.err).toBe(0);
    const id = Number(hits.out.trim());
    await ordersUntil(() => s.lines().some((l) => l.probe === id && String(l.msg).includes('reached its 3 hit(s) and was removed')), () => ({ items: items(1) }), 'hits reached');
    const after = hitsOf(id).length;
    expect(after).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 6; i++) await order({ items: items(1) });
    expect(hitsOf(id).length).toBe(after);

    const timed = await probe(['log', `examples/express.ts:${CHARGE_LINE}`, 't {order.id}', '--for', '2s', '--when', ALWAYS]);
    expect(timed.code, timed.err).toBe(0);
    const tid = Number(timed.out.trim());
    await waitFor(() => s.lines().some((l) => l.probe === tid && String(l.msg).includes('expired after 2 s')), 'the expiry line', 10_000);
    const list = await probe(['list']);
    expect(list.out).toMatch(new RegExp(`^${tid}\\s+log\\s+examples/express.ts:${CHARGE_LINE}.*expired after 2 s`, 'm'));
    for (let i = 0; i < 6; i++) await order({ items: items(1) });
    expect(hitsOf(tid)).toEqual([]);
  });

  it('a worker killed with SIGKILL comes back with the probe armed', async () => {
    const set = await api<ProbeView>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${CHARGE_LINE}`, template: 'after kill {order.id}', by: 'the test' });
    expect(set.status).toBe(201);
    const id = set.body.id;
    const oldPid = set.body.workers['0']!.pid;
    process.kill(oldPid, 'SIGKILL');
    const back = await waitFor(async () => {
      const v = (await api<ProbeView>('GET', `/probes/${id}`)).body.workers['0']!;
      return v.pid !== oldPid && v.state === 'armed' ? v : null;
    }, 'worker 0 respawned with the probe armed', 20_000);
    await ordersUntil(() => hitsOf(id).some((l) => l.pid === back.pid), () => ({ items: items(3) }), 'a hit in the respawned worker');
  });

  it('a snapshot probe writes a snapshot with the expected locals, its request, and secrets redacted', async () => {
    const p = run(['probe', 'snapshot', `examples/express.ts:${CARD_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set');
    const answered = await order({ items: items(7, 3) }, { authorization: 'Bearer sekrit-bearer-value', 'x-request-id': 'snap-req-1' });
    expect(answered.status).toBe(201);
    expect(await p.exited).toBe(0);
    const path = p.stdout().trim();
    expect(path).toMatch(/probe\d+-\d{4}\.json$/);
    const dump = JSON.parse(readFileSync(path, 'utf8')) as Dump;
    expect(dump).toMatchObject({ kind: 'snapshot', phase: 'probe', request: { id: 'snap-req-1', method: 'POST', url: '/orders', headers: { authorization: '[redacted]' } } });
    const top = dump.frames[dump.culprit]!;
    expect(top).toMatchObject({ function: 'chargeCard', file: 'examples/express.ts', line: CARD_LINE });
    expect(top.locals.apiKey).toBe('[redacted]');
    expect((top.locals.order as { summary: string }).summary).toMatch(/total: 21/);
    expect(readFileSync(path, 'utf8')).not.toContain('sekrit-bearer-value');
    expect(readFileSync(path, 'utf8')).not.toContain('sk_test_example_key');
  });

  it('a logpoint and a snapshot in a helper module, after an await (no req in any frame), name the request each hit belongs to', async () => {
    const set = await probe(['log', `examples/users-repo.ts:${FOUND_LINE}`, 'found {id}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    for (const n of [5, 6]) {
      const res = await fetch(`${s.url}/accounts/${n}`, { headers: { connection: 'close', 'x-request-id': `repo-req-${n}` } });
      expect(res.status).toBe(200);
    }
    await waitFor(() => hitsOf(id).length === 2, 'two hits in users-repo.ts');
    for (const n of [5, 6]) {
      const line = hitsOf(id).find((l) => (l.values as Record<string, number>).id === n)!;
      expect(line.request).toBe(`repo-req-${n}`);
      expect(line.msg).toBe(`probe ${id} examples/users-repo.ts:${FOUND_LINE} [repo-req-${n}]: found ${n}`);
    }

    const p = run(['probe', 'snapshot', `examples/users-repo.ts:${FOUND_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set');
    expect((await fetch(`${s.url}/accounts/9`, { headers: { connection: 'close', 'x-request-id': 'repo-snap-9' } })).status).toBe(200);
    expect(await p.exited).toBe(0);
    const dump = JSON.parse(readFileSync(p.stdout().trim(), 'utf8')) as Dump;
    expect(dump).toMatchObject({ kind: 'snapshot', request: { id: 'repo-snap-9', method: 'GET', url: '/accounts/9' } });
    expect(dump.frames[dump.culprit]).toMatchObject({ function: 'AccountRepository.findById', file: 'examples/users-repo.ts', line: FOUND_LINE, locals: { id: 9 } });
  });

  it('the pause budget suspends a probe placed in a hot loop, and says so', async () => {
    // With a --when, each hit is read at a pause (a logpoint without one has its template compiled
    // into the gate and logs with no pause: its lines cost the budget far less, its rate limit bounds them).
    const set = await api<ProbeView>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${LOOP_LINE}`, template: 'item {item.sku}', when: 'item.quantity > 0', rate: 10000, by: 'the test' });
    expect(set.status).toBe(201);
    const id = set.body.id;
    // 1500 items: under express.json's 100 kB limit, 1500 hits of the loop's line per order.
    const big = Array.from({ length: 1500 }, (_, i) => ({ sku: `S${i}`, price: 1, quantity: 1 }));
    // Two orders at a time: one order's 1,500 passes are already over the budget, and eight at
    // once (the other tests' rounds) only made the workers pause for hits past the warning.
    await ordersUntil(() => s.lines().some((l) => l.probe === id && l.code === 'TSPUMA_ERR_PROBE_BUDGET'), () => ({ items: big }), 'the budget warning', 2);
    const warn = s.lines().find((l) => l.probe === id && l.code === 'TSPUMA_ERR_PROBE_BUDGET')!;
    expect(warn.msg).toMatch(new RegExp(`Probe ${id} at examples/express.ts:${LOOP_LINE} suspended in worker \\d: (probes kept it paused [\\d.]+ ms|its line ran \\d+ times) within one second.*, over probePauseBudget \\(200 ms per second\\)`));
    const view = await waitFor(async () => {
      const v = (await api<ProbeView>('GET', `/probes/${id}`)).body;
      return Object.values(v.workers).some((w) => w.state === 'suspended') ? v : null;
    }, 'suspended in the list');
    expect(view.active).toBe(true);
    // Suspended: that worker logs no more of it.
    const worker = Number(Object.entries(view.workers).find(([, w]) => w.state === 'suspended')![0]);
    const before = hitsOf(id).filter((l) => l.worker === worker).length;
    for (let i = 0; i < 4; i++) await order({ items: big.slice(0, 100) });
    expect(hitsOf(id).filter((l) => l.worker === worker).length).toBe(before);
  });

  it('a line with no code is refused with a coded error naming the nearest lines with code', async () => {
    const r = await probe(['log', `examples/express.ts:${INTERFACE_LINE}`, 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`TSPUMA_ERR_PROBE_NO_CODE: examples/express.ts:${INTERFACE_LINE} has no code a probe can stop at in worker \\d .*the nearest lines with code are \\d+ and \\d+`));
    expect((await api<{ probes: ProbeView[] }>('GET', '/probes')).body.probes.filter((p) => p.active)).toEqual([]);
  });

  it('the control app refuses bad probe requests with coded errors, and any without the token', async () => {
    const bad = await fetch(`${control}/probes`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"kind": "log",' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'TSPUMA_ERR_PROBE_INVALID', error: expect.stringContaining('not JSON') });
    const writes = await api<{ code: string; error: string }>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${CHARGE_LINE}`, template: 'x', when: 'order.total = 0' });
    expect(writes).toMatchObject({ status: 400, body: { code: 'TSPUMA_ERR_PROBE_INVALID', error: expect.stringContaining('`=` at column 13 would change the program') } });
    // A template that calls what may write is refused as a --when is, before anything is set (T12.10).
    const calls = await probe(['log', `examples/express.ts:${CHARGE_LINE}`, 'added={items.push(1)}']);
    expect(calls.code).toBe(1);
    expect(calls.err).toContain('TSPUMA_ERR_PROBE_INVALID: Probe template expression `items.push(1)`');
    expect(calls.err).toContain('it calls push(), which may write (column 7)');
    const missing = await api<{ code: string }>('POST', '/probes', { kind: 'count', location: 'examples/nope.ts:3' });
    expect(missing).toMatchObject({ status: 400, body: { code: 'TSPUMA_ERR_PROBE_FILE' } });
    expect(await api<{ code: string }>('DELETE', '/probes/99')).toMatchObject({ status: 404, body: { code: 'TSPUMA_ERR_PROBE_NOT_FOUND' } });
    const anonymous = await fetch(`${control}/probes`);
    expect(anonymous.status).toBe(403);
  });

  // A worker booted later gets the active probes at its probe-hello (probe-registry.ts's
  // hello(), which knows no restart kind: test/unit/probe-registry.test.ts's 'a worker booted
  // later'); here a TTIN worker, in a slot (worker 2) the probe's view did not have when it was set.
  // A respawned worker's is the SIGKILL case above, a phased restart's new worker probe-deploy's
  // (both its cases arm the probe in the worker a phased restart booted). This case's phased leg
  // booted two Express workers more for that promise, and a hot restart's leg two before it. Its
  // --when calls a function, so the worker arms it as a conditional breakpoint, not by a live edit
  // (which walks an Express worker's heap: at a load of 18 it blocked a new worker's loop 1.4-3.0 s).
  it('a worker added by TTIN gets the probe', async () => {
    const set = await api<ProbeView>('POST', '/probes', { kind: 'count', location: `${EXPRESS}:${CHARGE_LINE}`, when: ALWAYS, by: 'the test' });
    expect(set.status).toBe(201);
    const id = set.body.id;
    const before = Object.values(set.body.workers).map((w) => w.pid);
    expect(set.body.workers['2']).toBeUndefined();
    const ctl = (command: string) => fetch(`${control}/${command}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect((await ctl('worker-count-up')).status).toBe(200);
    const added = await waitFor(async () => {
      const w = (await api<ProbeView>('GET', `/probes/${id}`)).body.workers['2'];
      return w?.state === 'armed' ? w : null;
    }, 'worker 2 armed', 60_000);
    expect(before).not.toContain(added.pid);
    await ctl('worker-count-down');
  }, 120_000 * SLOWNESS);

  // Last: it stops the cluster.
  it('a stop with a probe set and hit exits cleanly, without Node waiting for a debugger to disconnect', async () => {
    const set = await api<ProbeView>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${CHARGE_LINE}`, template: 'last {order.id}', by: 'the test' });
    await ordersUntil(() => hitsOf(set.body.id).length > 0, () => ({ items: items(2) }), 'a hit');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.stderr()).not.toContain('Waiting for the debugger to disconnect');
    expect(s.lines().some((l) => l.msg === '- Goodbye!')).toBe(true);
  });
});
