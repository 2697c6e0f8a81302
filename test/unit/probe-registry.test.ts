// The primary's probe registry with fake workers and a hand-driven clock: validation with coded
// errors, every worker (and every later one) gets each probe, a line with no code refuses the
// set, expiry, hit budgets summed across workers, the cap, and the log lines naming who asked.
// Also the shared parsing of locations, durations, templates and read-only expressions.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PrimaryMessage, ProbeArmState } from '../../server/cluster/messages.js';
import { COLLECT_WAIT_MS, ProbeRegistry, type ProbeWorker } from '../../server/cluster/probe-registry.js';
import { countLine, listRows, workersText } from '../../server/cli/probe.js';
import { checkCondition, checkReadOnly, parseDuration, parseLocation, parseTemplate, shownProbeText, v8Condition } from '../../server/probe-spec.js';
import { Redactor } from '../../diagnostics/redact.js';
import { captureLogger } from '../helpers/server.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('probe-registry');
const FILE = join(dir, 'orders.ts');
writeFileSync(FILE, 'export function charge(order) {\n  const total = order.total;\n  return total;\n}\n');

class FakeProbeWorker implements ProbeWorker {
  readonly sent: PrimaryMessage[] = [];
  constructor(
    readonly index: number,
    readonly pid: number,
  ) {}
  send(m: PrimaryMessage): void {
    this.sent.push(m);
  }
  sets(): number[] {
    return this.sent.flatMap((m) => (m.type === 'probe-set' ? [m.probe.id] : []));
  }
  removals(): number[] {
    return this.sent.flatMap((m) => (m.type === 'probe-rm' ? [m.id] : []));
  }
}

/** Each worker answers the last probe-flush it got (with `hits` for some), then the registry settles. */
async function answerFlushes(registry: ProbeRegistry, workers: FakeProbeWorker[], hits: Record<number, [number, number, number][]> = {}): Promise<void> {
  for (const w of workers) {
    const flush = w.sent.filter((m) => m.type === 'probe-flush').at(-1) as { seq: number } | undefined;
    if (flush) registry.onMessage(w, { tspuma: 1, type: 'probe-hits', index: w.index, hits: hits[w.index] ?? [], flushed: flush.seq });
  }
  await settle();
}

function setup(limits: Partial<ConstructorParameters<typeof ProbeRegistry>[1]> = {}) {
  const clock = new FakeClock();
  const logs = captureLogger();
  const registry = new ProbeRegistry(logs.logger, { max: 3, expirySeconds: 900, logRate: 100, snapshotRate: 1, ...limits }, clock);
  const workers = [new FakeProbeWorker(0, 100), new FakeProbeWorker(1, 101)];
  for (const w of workers) registry.onMessage(w, { tspuma: 1, type: 'probe-hello', index: w.index });
  const answer = (w: FakeProbeWorker, m: { id: number } & ProbeArmState) => registry.onMessage(w, { tspuma: 1, type: 'probe-state', index: w.index, ...m });
  return { clock, logs, registry, workers, answer };
}

describe('probe requests', () => {
  it('FILE:LINE, durations and templates parse; bad ones are TSPUMA_ERR_PROBE_INVALID naming the value', () => {
    expect(parseLocation('src/orders.ts:42', 'x')).toEqual({ file: 'src/orders.ts', line: 42, column: null });
    // As dumps and stack traces print them (N28): the column kept (it picks the place on the line: N12), a file:// URL made a path.
    expect(parseLocation('src/repo.ts:27:5', 'x')).toEqual({ file: 'src/repo.ts', line: 27, column: 5 });
    expect(parseLocation('file:///srv/app/src/repo.ts:27:5', 'x')).toEqual({ file: '/srv/app/src/repo.ts', line: 27, column: 5 });
    expect(parseLocation('file:///srv/my%20app/repo.ts:3', 'x')).toEqual({ file: '/srv/my app/repo.ts', line: 3, column: null });
    expect(parseLocation('C:\\app\\x.ts:12', 'x')).toEqual({ file: 'C:\\app\\x.ts', line: 12, column: null });
    expect(() => parseLocation('src/orders.ts', 'x')).toThrow(/TSPUMA_ERR_PROBE_INVALID|expected FILE:LINE/);
    expect(parseDuration('15m', 'x')).toBe(900);
    expect(parseDuration('30s', 'x')).toBe(30);
    expect(() => parseDuration('2d', 'x')).toThrow(/expected a duration/);
    expect(parseTemplate('charged {order.id} total={total} {{literal}}')).toEqual([{ text: 'charged ' }, { expr: 'order.id' }, { text: ' total=' }, { expr: 'total' }, { text: ' {literal}' }]);
    expect(parseTemplate('{ {a: 1}.a }')).toEqual([{ expr: '{a: 1}.a' }]);
    expect(() => parseTemplate('total={total')).toThrow(/is not closed/);
  });

  it('expressions that write are refused before any worker sees them; comparisons and calls are not', () => {
    for (const ok of ['total > 100', 'a === b && c !== d', 'x <= 1 || y >= 2', 'items.filter((i) => i.ok).length', "name == 'a=b'"]) expect(() => checkReadOnly(ok, 'condition', 'test')).not.toThrow();
    for (const bad of ['total = 0', 'count++', '--n', 'delete o.x', 'a += 1', 'await f()', 'x ??= 1']) expect(() => checkReadOnly(bad, 'condition', 'test'), bad).toThrow(/would change the program/);
    expect(() => checkReadOnly('a +', 'condition', 'test')).toThrow(/not a JavaScript expression/);
  });

  it('a --when condition calls only methods that read: no other call, no new, no template literal, no regular expression', () => {
    for (const ok of ["req.url.startsWith('/api')", 'items.filter((i) => i.ok).length > 2', 'typeof (x) === "string"', 'total / count > 2', '(a + b) / 2 > 1', 'map.has(k) && map.get(k).n > 1']) expect(() => checkCondition(ok, 'test'), ok).not.toThrow();
    for (const [bad, reason] of [
      ['(this.byId.clear(), true)', 'it calls clear(), which may write (column 12)'],
      ['x > 5 && arr.pop()', 'it calls pop(), which may write'],
      ['audit(order)', 'it calls audit(), which may write'],
      ['handlers[k]()', 'it calls a computed function'],
      ['new Date() > d', '`new` at column 1 runs a constructor'],
      ['`${this.byId.clear()}` === ""', 'may not use template literals'],
      // M7: a backtracking pattern held a worker for 60 s (no time limit on a condition).
      ['/^(a+)+$/.test(c.req.param("n"))', 'it runs a regular expression (column 1)'],
      ['x && /a+b/.test(y)', 'it runs a regular expression (column 6)'],
      ['EMAIL.test(user.email)', 'it runs a regular expression (column 7)'],
      ['s.split(/,+/).length > 2', 'it runs a regular expression (column 9)'],
    ]) expect(() => checkCondition(bad!, 'test'), bad).toThrow(reason!);
  });

  it('a template expression calls only methods that read, as a --when does, and is refused at the prompt with the column: a call that writes, a database client\'s query(sql), new (T12.10)', () => {
    for (const ok of ['charged {order.id} total={order.total}', 'q={c.req.query("q")} ua={req.get("user-agent")}', 'n={items.filter((i) => i.ok).length} {JSON.stringify(order)}', 'at={new_total.toFixed(2)} ok={/^a/.test(name)}']) expect(() => parseTemplate(ok, 'test'), ok).not.toThrow();
    for (const [bad, reason] of [
      ['added {rows.push({id: 99})}', 'Probe template expression `rows.push({id: 99})` (test) is not valid: it calls push(), which may write (column 6)'],
      ['q={pool.query("DELETE FROM orders")}', 'it calls query() with "DELETE FROM orders" (column 6), which names no field of a request'],
      ['a={audit(order)}', 'it calls audit(), which may write (column 1)'],
      ['h={handlers[k]()}', 'it calls a computed function (column 11)'],
      ['d={new Date()}', '`new` at column 1 runs a constructor'],
    ]) expect(() => parseTemplate(bad!, 'test'), bad).toThrow(reason!);
    // The --when rule holds the same database call.
    expect(() => checkCondition('pool.query("DELETE FROM orders") !== null', 'test')).toThrow('it calls query() with "DELETE FROM orders" (column 6)');
  });

  it("the condition V8 evaluates puts the user's when before the gate, so a false one never reaches it", () => {
    expect(v8Condition({ id: 7, when: 'total > 100' })).toBe('__tspumaProbe.n(7) || ((total > 100\n) && __tspumaProbe(7))');
    expect(v8Condition({ id: 7, when: null })).toBe('__tspumaProbe.n(7) || (__tspumaProbe(7))');
  });
});

describe('ProbeRegistry', () => {
  it('sends a probe to every listening worker, answers once each has armed it, and logs who set it', async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'total={total}', by: 'alice@host' }, 'alice@host from 127.0.0.1');
    expect(workers.map((w) => w.sets())).toEqual([[1], [1]]);
    answer(workers[0]!, { id: 1, state: 'armed', at: 'file:///x.ts:2:3' });
    answer(workers[1]!, { id: 1, state: 'pending' });
    const view = await set;
    expect(view.workers['0']!.state).toBe('armed');
    expect(view.workers['1']!.state).toBe('pending');
    expect(logs.lines.some((l) => /Probe 1 set by alice@host from 127.0.0.1: logpoint at .*orders.ts:2 "total=\{total\}"/.test(String(l.msg)))).toBe(true);
  });

  it('a worker booted later (respawn, TTIN, restart) gets every active probe on its hello', async () => {
    const { registry, workers, answer } = setup();
    const set = registry.set({ kind: 'count', location: `${FILE}:2` }, 'bob');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    const respawned = new FakeProbeWorker(0, 200);
    registry.gone(100);
    registry.onMessage(respawned, { tspuma: 1, type: 'probe-hello', index: 0 });
    expect(respawned.sets()).toEqual([1]);
    expect(registry.get(1).workers['0']!.pid).toBe(200);
  });

  it('a line with no code in a worker refuses the set with that worker\'s coded error and removes it everywhere', async () => {
    const { registry, workers, answer } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:4`, template: 'x' }, 'carol');
    answer(workers[0]!, { id: 1, state: 'error', code: 'TSPUMA_ERR_PROBE_NO_CODE', message: 'orders.ts:4 has no code ... the nearest lines with code are 3' });
    answer(workers[1]!, { id: 1, state: 'error', code: 'TSPUMA_ERR_PROBE_NO_CODE', message: 'orders.ts:4 has no code ... the nearest lines with code are 3' });
    await expect(set).rejects.toMatchObject({ code: 'TSPUMA_ERR_PROBE_NO_CODE', message: expect.stringContaining('nearest lines with code are 3') });
    expect(workers.map((w) => w.removals())).toEqual([[1], [1]]);
    expect(registry.size).toBe(0);
  });

  it('refuses a missing file and a line past the end with TSPUMA_ERR_PROBE_FILE, and the cap with TSPUMA_ERR_PROBE_LIMIT', async () => {
    const { registry, workers, answer } = setup({ max: 1 });
    await expect(registry.set({ kind: 'count', location: `${dir}/nope.ts:1` }, 'x')).rejects.toMatchObject({ code: 'TSPUMA_ERR_PROBE_FILE' });
    await expect(registry.set({ kind: 'count', location: `${FILE}:5` }, 'x')).rejects.toMatchObject({ code: 'TSPUMA_ERR_PROBE_FILE', message: expect.stringContaining('has 4 lines') });
    const first = registry.set({ kind: 'count', location: `${FILE}:2` }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await first;
    await expect(registry.set({ kind: 'count', location: `${FILE}:3` }, 'x')).rejects.toMatchObject({ code: 'TSPUMA_ERR_PROBE_LIMIT' });
  });

  it('expires after --for (default probeExpiry), removing it from every worker with a log line', async () => {
    const { registry, workers, answer, clock, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x', for: 30 }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    await clock.advance(29_000);
    await settle();
    expect(registry.get(1).active).toBe(true);
    await clock.advance(1_000);
    await settle();
    expect(registry.get(1)).toMatchObject({ active: false, ended: 'expired after 30 s' });
    expect(workers.map((w) => w.removals())).toEqual([[1], [1]]);
    expect(logs.lines.some((l) => /Probe 1 \(log at .*orders.ts:2\) expired after 30 s/.test(String(l.msg)))).toBe(true);
    const defaulted = registry.set({ kind: 'count', location: `${FILE}:2` }, 'x');
    for (const w of workers) answer(w, { id: 2, state: 'armed', at: 'x' });
    expect(Date.parse((await defaulted).expiresAt) - clock.now()).toBe(900_000);
  });

  it('says it expired after the --for it was given when the process was starved while setting it (cluster3.5: "expired after 1.9 s" for --for 2s)', async () => {
    const { registry, workers, answer, clock, logs } = setup();
    // A primary descheduled at load: each read of its clock during the set finds 70 ms gone.
    const read = clock.now.bind(clock);
    let starved = true;
    let lag = 0;
    clock.now = () => read() + (starved ? (lag += 70) : lag);
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x', for: 2 }, 'x');
    starved = false;
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    await clock.advance(2_000);
    await settle();
    expect(registry.get(1)).toMatchObject({ active: false, ended: 'expired after 2 s' });
    expect(logs.lines.some((l) => /Probe 1 \(log at .*orders.ts:2\) expired after 2 s/.test(String(l.msg)))).toBe(true);
  });

  it('a probe that expires while a worker is still arming it: the set answer says it ended, why, and what each worker had done, not a bare "removed" (review6.1)', async () => {
    const { registry, workers, answer, clock } = setup();
    const set = registry.set({ kind: 'count', location: `${FILE}:2`, for: 1 }, 'x');
    answer(workers[0]!, { id: 1, state: 'armed', at: 'x' });
    // Worker 1's loop is blocked past the probe's second: no answer before it expires.
    await clock.advance(1_000);
    const view = await set;
    expect(view).toMatchObject({ active: false, ended: 'expired after 1 s' });
    expect(workersText(view)).toBe('it ended before this answer, expired after 1 s (a longer --for gives busy workers time to arm it): worker 0 had armed it; worker 1 had not armed it yet');
    // Both armed, then removed before the answer was written: no hint about --for.
    const second = registry.set({ kind: 'count', location: `${FILE}:2`, for: 60 }, 'x');
    for (const w of workers) answer(w, { id: 2, state: 'armed', at: 'x' });
    registry.remove(2, 'alice');
    expect(workersText(await second)).toBe('it ended before this answer, removed by alice: worker 0 had armed it; worker 1 had armed it');
  });

  it('--hits is summed across workers: the probe is removed once they add up to it', async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x', hits: 5 }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-hits', index: 0, hits: [[1, 3, 3]] });
    expect(registry.get(1).active).toBe(true);
    registry.onMessage(workers[1]!, { tspuma: 1, type: 'probe-hits', index: 1, hits: [[1, 2, 2]] });
    await answerFlushes(registry, workers);
    expect(registry.get(1)).toMatchObject({ active: false, hitsSeen: 5, ended: 'reached its 5 hit(s) and was removed' });
    expect(logs.lines.some((l) => /reached its 5 hit\(s\)/.test(String(l.msg)))).toBe(true);
  });

  it('--hits reached: the counts of every worker are collected before the removal line, so hits both workers logged in one burst are all counted (P9)', async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x', hits: 3 }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    registry.onMessage(workers[1]!, { tspuma: 1, type: 'probe-hits', index: 1, hits: [[1, 3, 3]] });
    // Worker 0 logged its own 3 in the same burst, not reported yet: it answers the flush with them.
    await answerFlushes(registry, workers, { 0: [[1, 3, 3]] });
    expect(registry.get(1)).toMatchObject({ active: false, hitsSeen: 6, pausedSeen: 6, workers: { '0': { hits: 3 }, '1': { hits: 3 } } });
    expect(logs.lines.find((l) => /reached its 3 hit\(s\)/.test(String(l.msg)))!.msg).toMatch(/reached its 3 hit\(s\) and was removed; 6 hit\(s\), 6 logged$/);
  });

  it('rm names who asked; rm of an unknown id is TSPUMA_ERR_PROBE_NOT_FOUND listing the ids set', async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'count', location: `${FILE}:2` }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    expect(() => registry.remove(9, 'dave')).toThrow(/No probe 9 is set; the probes set are: 1/);
    registry.remove(1, 'dave@laptop from 10.0.0.5');
    expect(logs.lines.some((l) => String(l.msg).includes('removed by dave@laptop from 10.0.0.5'))).toBe(true);
    expect(JSON.stringify(logs.lines)).not.toMatch(/token/i);
  });
});

describe('what list, get and rm answer', () => {
  it('collect() asks every worker for its counts of now and waits for them, so rm right after a hit counts it (M5.2)', async () => {
    const { registry, workers, answer } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x' }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    let collected = false;
    const collecting = registry.collect().then(() => (collected = true));
    const flushes = workers.map((w) => w.sent.filter((m) => m.type === 'probe-flush'));
    expect(flushes.map((f) => f.length)).toEqual([1, 1]);
    const seq = (flushes[0]![0] as { seq: number }).seq;
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-hits', index: 0, hits: [[1, 1, 1]], flushed: seq });
    await settle();
    expect(collected).toBe(false);
    // A worker with nothing counted answers too (no hits), and that completes it.
    registry.onMessage(workers[1]!, { tspuma: 1, type: 'probe-hits', index: 1, hits: [], flushed: seq });
    await collecting;
    expect(registry.remove(1, 'x')).toMatchObject({ hitsSeen: 1, pausedSeen: 1 });
  });

  it('collect() answers after COLLECT_WAIT_MS when a worker does not answer (paused in a debugger), or at once when it exits', async () => {
    const { registry, workers, answer, clock } = setup();
    const set = registry.set({ kind: 'count', location: `${FILE}:2` }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    let collected = false;
    void registry.collect().then(() => (collected = true));
    await clock.advance(COLLECT_WAIT_MS - 1);
    await settle();
    expect(collected).toBe(false);
    await clock.advance(1);
    await settle();
    expect(collected).toBe(true);
    collected = false;
    void registry.collect().then(() => (collected = true));
    const seq = (workers[0]!.sent.filter((m) => m.type === 'probe-flush').at(-1) as { seq: number }).seq;
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-hits', index: 0, hits: [], flushed: seq });
    registry.gone(workers[1]!.pid);
    await settle();
    expect(collected).toBe(true);
  });

  it('after a deploy moved the line, list shows where the workers armed it; when every worker suspended it, its state says so and why (M5.1)', async () => {
    const { registry, workers, answer } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x' }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x', location: `${FILE}:2` });
    await set;
    expect(listRows(registry.list())[1]!.slice(2, 4)).toEqual([`${FILE}:2 "x"`, 'active']);
    // A phased restart: the new workers load a file whose line 2 moved to line 4.
    const moved = [new FakeProbeWorker(0, 200), new FakeProbeWorker(1, 201)];
    registry.gone(100);
    registry.onMessage(moved[0]!, { tspuma: 1, type: 'probe-hello', index: 0 });
    answer(moved[0]!, { id: 1, state: 'armed', at: 'y', location: `${FILE}:4` });
    expect(listRows(registry.list())[1]![2]).toBe(`${FILE}:2 (worker 0 at :4) "x"`);
    registry.gone(101);
    registry.onMessage(moved[1]!, { tspuma: 1, type: 'probe-hello', index: 1 });
    answer(moved[1]!, { id: 1, state: 'armed', at: 'y', location: `${FILE}:4` });
    expect(listRows(registry.list())[1]![2]).toBe(`${FILE}:4 (set at :2) "x"`);
    // Then the line's text changes: each worker suspends it.
    for (const w of moved) registry.onMessage(w, { tspuma: 1, type: 'probe-event', index: w.index, id: 1, event: 'suspended', ms: 0, code: 'TSPUMA_ERR_PROBE_SOURCE_CHANGED', message: 'changed' });
    expect(registry.get(1)).toMatchObject({ active: true, suspended: 'in all workers (source changed)' });
    expect(listRows(registry.list())[1]![3]).toBe('suspended in all workers (source changed)');
  });

  it('a suspension (pause budget, source changed) is warned once, by the worker that suspended it: the registry records it in the view and logs nothing of it (review11.10)', async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x' }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    const message = `Probe 1 at ${FILE}:2 suspended in worker 0: probes kept it paused 230 ms within one second, 230 ms of it for this one, over probePauseBudget (200 ms per second).`;
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-event', index: 0, id: 1, event: 'suspended', ms: 230, code: 'TSPUMA_ERR_PROBE_BUDGET', message });
    registry.onMessage(workers[1]!, { tspuma: 1, type: 'probe-event', index: 1, id: 1, event: 'suspended', ms: 0, code: 'TSPUMA_ERR_PROBE_SOURCE_CHANGED', message: 'changed' });
    expect(registry.get(1)).toMatchObject({ active: true, suspended: 'in all workers (pause budget, source changed)' });
    expect(logs.lines.filter((l) => l.code === 'TSPUMA_ERR_PROBE_BUDGET' || l.code === 'TSPUMA_ERR_PROBE_SOURCE_CHANGED' || String(l.msg).includes('suspended'))).toEqual([]);
  });

  it("a probe a worker removed (its template wrote) ends with one line that says why once, not the worker's 'Probe N at … removed:' nested in its own (T12.10)", async () => {
    const { registry, workers, answer, logs } = setup();
    const set = registry.set({ kind: 'log', location: `${FILE}:2`, template: 'x={x}' }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    await set;
    const message = `Probe 1 at ${FILE}:2 removed: its template expression \`x\` may change the program (EvalError: Possible side-effect in debug-evaluate); a probe may only read.`;
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-event', index: 0, id: 1, event: 'removed', code: 'TSPUMA_ERR_PROBE_SIDE_EFFECT', message });
    const ended = logs.lines.filter((l) => /^Probe 1 \(log at /.test(String(l.msg))).map((l) => String(l.msg));
    expect(ended).toEqual([`Probe 1 (log at ${FILE}:2) removed: its template expression \`x\` may change the program (EvalError: Possible side-effect in debug-evaluate); a probe may only read; 0 hit(s), 0 logged`]);
    expect(registry.get(1)).toMatchObject({ active: false, ended: expect.stringMatching(/^removed: its template expression/) });
  });

  it('probe count: a second with no hit shows 0/s, not the rate of the last report again (M5.4)', async () => {
    const { registry, workers, answer } = setup();
    const set = registry.set({ kind: 'count', location: `${FILE}:2` }, 'x');
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'x' });
    // As the CLI has them: the JSON of each answer.
    const start = structuredClone(await set);
    registry.onMessage(workers[0]!, { tspuma: 1, type: 'probe-hits', index: 0, hits: [[1, 9, 0]] });
    const first = structuredClone(registry.get(1));
    expect(countLine(start, first, 1000)).toBe('worker 0: 9/s  worker 1: 0/s  total 9/s  (9 hit(s) since set)');
    expect(countLine(first, registry.get(1), 1000)).toBe('worker 0: 0/s  worker 1: 0/s  total 0/s  (9 hit(s) since set)');
  });
});

describe('what a probe shows of itself (S10, S14)', () => {
  it('refuses a location that is not a script (.env, /etc/passwd) with TSPUMA_ERR_PROBE_FILE, before reading it', () => {
    const { registry } = setup();
    const env = join(dir, '.env');
    writeFileSync(env, 'NODE_ENV=production\nDATABASE_URL=postgres://app:S3cretPassw0rd@db:5432/shop\n');
    for (const location of [`${env}:2`, '/etc/passwd:1']) {
      expect(() => registry.specFor({ kind: 'log', location, template: 'x' })).toThrow(/TSPUMA_ERR_PROBE_FILE|is not a script/);
    }
    try {
      registry.specFor({ kind: 'log', location: `${env}:2`, template: 'x' });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('TSPUMA_ERR_PROBE_FILE');
      expect((err as Error).message).not.toContain('S3cretPassw0rd');
    }
  });

  it("shows the line, the template and the --when with their secrets redacted in its log lines, list and answers; the workers get the real text", async () => {
    const { registry, workers, logs, answer } = setup();
    const src = join(dir, 'auth.ts');
    writeFileSync(src, 'export function check(presented: string, apiKey: string) {\n  const db = "postgres://app:S3cretPassw0rd@db:5432/shop";\n  return presented === apiKey;\n}\n');
    const when = 'presented === "sk_live_51HxYzABCdef0123456789" || req.get("authorization") === "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk" || apiKey === "k-9-opensesame" || req.headers["x-api-key"] == \'hunter2-key\'';
    const setting = registry.set({ kind: 'log', location: `${src}:2`, template: 'db={db} k={apiKey}', when }, 'ann@host (tspuma probe log) from 127.0.0.1');
    await settle();
    for (const w of workers) answer(w, { id: 1, state: 'armed', at: 'auth.ts:2' });
    const view = await setting;
    const secrets = ['S3cretPassw0rd', 'sk_live_51HxYzABCdef0123456789', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk', 'k-9-opensesame', 'hunter2-key'];
    const shown = JSON.stringify([view, registry.list(), logs.lines]);
    for (const s of secrets) expect(shown).not.toContain(s);
    expect(view.lineText).toBe('  const db = "postgres://app:[redacted]@db:5432/shop";');
    expect(view.when).toBe('presented === "[redacted]" || req.get("authorization") === "[redacted]" || apiKey === "[redacted]" || req.headers["x-api-key"] == \'[redacted]\'');
    const sent = workers[0]!.sent.find((m) => m.type === 'probe-set') as { probe: { when: string; lineText: string } };
    expect(sent.probe.when).toBe(when);
    expect(sent.probe.lineText).toContain('S3cretPassw0rd');
  });
});

describe('a probe text as probe list shows it (shownProbeText)', () => {
  it("keeps a template's placeholders as written (names, not values), and still redacts a secret literal beside them (U9.1)", () => {
    const r = new Redactor(null);
    const template = 'auth={req.headers.authorization} tok={req.query.token} id={req.params.id} cookie={req.headers.cookie}';
    expect(shownProbeText(template, r)).toBe(template);
    expect(shownProbeText('k={apiKey} url=postgres://app:S3cretPassw0rd@db/shop', r)).toBe('k={apiKey} url=postgres://app:[redacted]@db/shop');
    expect(shownProbeText('{req.get("authorization") === "Bearer abc123def456"}', r)).not.toContain('abc123def456');
  });
});
