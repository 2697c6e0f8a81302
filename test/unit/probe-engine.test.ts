// A worker's probe engine in a process of its own started with tsx (test/fixtures/probes/
// run-engine.mjs): .ts lines of a CommonJS module (which tsx compiles onto one generated line)
// and of an ES module, armed before the files load; values redacted by name; a false condition
// that never reaches the gate; a line with no code; a condition V8's side-effect check refuses;
// two probes on one line.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { command } from '../helpers/command.js';
import { SLOWNESS } from '../helpers/net.js';

type Line = Record<string, unknown> & { sent?: Record<string, unknown> };
let lines: Line[];
const sent = () => lines.flatMap((l) => (l.sent ? [l.sent] : []));
const logged = (probe: number) => lines.filter((l) => l.probe === probe && typeof l.values === 'object');

// The fixture's run takes 20 s at a load of 25 on two cores; a fixed 60 s bound once ended it at a
// load of 20 under stress-ng (every test of the file then skipped): bounded by the load, as hooks are.
// Awaited, not spawnSync: blocked for a minute at a load of 27, the fork failed the run (command.ts).
// The hook's own bound is the command's and half as much again: at the hook's default (60 s x
// SLOWNESS, 75 s) the command's bound (68.75 s, then SIGTERM) had not ended the hook, which timed
// out saying nothing of how far the run got, at a load of 18-32 (the lead's run, session 25): the
// SLOWNESS read as the file starts, in a run's first seconds, is the load before the run's own.
const RUN_MS = Math.round(55_000 * SLOWNESS);
beforeAll(async () => {
  const r = await command(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/probes/run-engine.mjs'), join(ROOT, 'dist')], { cwd: ROOT, timeoutMs: RUN_MS });
  // A run that does not end (tests21.2: still running after 220 s at a load of 26-48) says how far it got.
  expect(r.status, `${r.error?.message ?? ''} ${r.stderr}; its last lines: ${r.stdout.trimEnd().split('\n').slice(-4).join('\n')}`).toBe(0);
  lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}, RUN_MS * 1.5);

describe('the probe engine under tsx', () => {
  it('arms a probe set before its file loaded when the file is parsed, and maps a CommonJS .ts line on its one generated line by column', () => {
    expect(sent()).toContainEqual(expect.objectContaining({ type: 'probe-state', id: 1, state: 'pending' }));
    const armed = sent().find((m) => m.type === 'probe-state' && m.id === 1 && m.state === 'armed')!;
    expect(armed.at).toMatch(/cjs\/orders\.ts, generated line \d+ column (\d{3,})$/);
    expect(logged(1).map((l) => l.msg)).toEqual(['probe 1 test/fixtures/probes/cjs/orders.ts:8: charged 7 total=3 key=[redacted]']);
  });

  it('an ES module line logs only the hits where --when holds; a secret-named value is redacted', () => {
    expect(logged(2).map((l) => l.values)).toEqual([{ 'order.id': 9, 'order.total': 30, apiKey: '[redacted]' }]);
    expect(JSON.stringify(lines)).not.toContain('sk_live_abcdef123456');
  });

  it('a false condition never reaches the gate: the hit counter beside it counts nothing', () => {
    const counted = sent().flatMap((m) => (m.type === 'probe-hits' ? (m.hits as [number, number, number][]) : []));
    expect(counted.filter(([id]) => id === 4)).toEqual([]);
    expect(counted.filter(([id]) => id === 1)).toEqual([[1, 1, 1]]);
  });

  it('a blank line is refused with TSPUMA_ERR_PROBE_NO_CODE naming the lines above and below that have code', () => {
    const error = sent().find((m) => m.type === 'probe-state' && m.id === 3 && m.state !== 'pending')!;
    expect(error).toMatchObject({ state: 'error', code: 'TSPUMA_ERR_PROBE_NO_CODE' });
    expect(error.message).toMatch(/esm\/orders\.ts:9 has no code .* the nearest lines with code are 8 and 10\.$/);
  });

  it('under tsx, a line that is only the } of an if block ending in `return;` is refused with TSPUMA_ERR_PROBE_NO_CODE naming the lines around it; a function\'s closing line stops as it returns (T1 leftover)', () => {
    const brace = sent().find((m) => m.type === 'probe-state' && m.id === 30 && m.state !== 'pending')!;
    expect(brace).toMatchObject({ state: 'error', code: 'TSPUMA_ERR_PROBE_NO_CODE' });
    expect(brace.message).toMatch(/esm\/t1\/pool\.ts:7 has no code .* the nearest lines with code are 6 and 8\.$/);
    expect(lines.find((l) => 't1pool' in l)).toEqual({ t1pool: 42 });
    expect(logged(31).map((l) => l.msg)).toEqual(['probe 31 test/fixtures/probes/esm/t1/pool.ts:10: end r=42']);
  });

  it('a second probe on a line that has one is armed on the same breakpoint; its condition, which writes, is removed at its first hit with TSPUMA_ERR_PROBE_SIDE_EFFECT', () => {
    expect(sent()).toContainEqual(expect.objectContaining({ type: 'probe-state', id: 5, state: 'armed' }));
    expect(sent()).toContainEqual(expect.objectContaining({ type: 'probe-event', id: 5, event: 'removed', code: 'TSPUMA_ERR_PROBE_SIDE_EFFECT' }));
    expect(lines.find((l) => l.probe === 5 && l.code === 'TSPUMA_ERR_PROBE_SIDE_EFFECT')!.msg).toContain('its condition `Object.assign(order, { seen: true }) !== null` may change the program');
    expect(logged(5)).toEqual([]);
  });

  it('a file edited in and out by two engines in turn (a worker whose last probe goes closes its engine) gets the next probe in its live script only, and it hits', () => {
    const r = lines.find((l) => 'rearmedSites' in l)!;
    expect(r.rearmedSites).toBe(1);
    expect(sent().find((m) => m.type === 'probe-state' && m.id === 26 && m.state === 'armed')!.at).toMatch(/esm\/loop\.mjs, generated line 4 column \d+ \(template and gate compiled in by live edit: [\d.]+ ms; a hit logs with no pause\)$/);
    expect(logged(26).map((l) => l.msg)[0]).toBe('probe 26 test/fixtures/probes/esm/loop.mjs:4: again 2');
  });

  it('--hits 2 logs two lines in a worker whose line runs ten times before the primary adds the hits up, compiled into the gate or at a breakpoint', () => {
    expect([logged(50).map((l) => l.msg), logged(51).map((l) => l.msg)]).toEqual([
      ['probe 50 test/fixtures/probes/esm/loop.mjs:6: i=0', 'probe 50 test/fixtures/probes/esm/loop.mjs:6: i=1'],
      ['probe 51 test/fixtures/probes/esm/loop.mjs:6: i=0', 'probe 51 test/fixtures/probes/esm/loop.mjs:6: i=1'],
    ]);
    const at = (id: number) => String(sent().find((m) => m.type === 'probe-state' && m.id === id && m.state === 'armed')!.at);
    expect([at(50), at(51)]).toEqual([expect.stringMatching(/\(template and gate compiled in by live edit: [\d.]+ ms; a hit logs with no pause\)$/), expect.stringMatching(/\(conditional breakpoint: /)]);
  });

  it('a removed probe\'s guard stays in the code until restoreAfterMs after the last removal: a probe set again at its line within it takes it over with no edit and counts; then the source is given back; an engine closed as the process stops makes no edit', () => {
    const left = lines.find((l) => 'leftGuard' in l)!.leftGuard as Record<string, unknown>;
    expect([left.inAfterSet, left.inAfterRm, left.takeover]).toEqual([true, true, { hits: 3, reused: [true] }]);
    expect(sent().find((m) => m.type === 'probe-state' && m.id === 41 && m.state === 'armed')!.at).toMatch(/esm\/loop\.mjs, generated line 6 column \d+ \(gate compiled in by live edit: no edit, a removed probe's guard was still in the code\)$/);
    // Given back once the 400 ms after the last removal passed, not at it.
    expect(left.restoredMs).toBeGreaterThanOrEqual(350);
    expect([left.inBeforeStop, left.inAfterStop]).toEqual([true, true]);
  });

  it('a probe on an inner loop\'s line is suspended once its passes cost the pause budget, not when the loop ends (N11)', () => {
    const warn = lines.find((l) => l.probe === 6 && l.code === 'TSPUMA_ERR_PROBE_BUDGET')!;
    // (On a loaded machine the one hit a second it logs may hold the thread past the budget first: suspended for that.)
    expect(warn.msg).toMatch(/^Probe 6 at test\/fixtures\/probes\/esm\/orders\.ts:16 suspended in worker 0: (its line ran \d+ times within one second, each run a breakpoint condition V8 evaluates \(about [\d.]+ ms each here: [\d.]+ ms\)|probes kept it paused [\d.]+ ms within one second, [\d.]+ ms of it for this one), over probePauseBudget \(200 ms per second\)/);
    const { maxPasses } = lines.find((l) => 'maxPasses' in l) as { maxPasses: number };
    const { loopMs } = lines.find((l) => 'loopMs' in l) as { loopMs: number };
    const passes = sent().flatMap((m) => (m.type === 'probe-hits' ? (m.hits as [number, number, number][]) : [])).filter(([id]) => id === 6).reduce((n, [, hits]) => n + hits, 0);
    // Hits counted past `when` (none here): the passes that reached the gate, never the whole loop.
    // The budget is per second: a loop a loaded machine slows past a second starts a new window
    // (at a load of 14 the 2,232 passes allowed took longer than one), so each second the loop
    // touched allows maxPasses + 1 (one second on a quiet machine).
    const windows = Math.floor(loopMs / 1000) + 1;
    expect(passes).toBeLessThanOrEqual((maxPasses + 1) * windows);
    expect(passes).toBeLessThan(50_000);
    expect(maxPasses).toBeLessThan(50_000);
    expect(sent()).toContainEqual(expect.objectContaining({ type: 'probe-event', id: 6, event: 'suspended', code: 'TSPUMA_ERR_PROBE_BUDGET' }));
  });

  it('a probe with no --when on an inner loop\'s line of a plain module is compiled in by live edit: all 50,000 passes counted, at least one logged, none suspended', () => {
    const armed = sent().find((m) => m.type === 'probe-state' && m.id === 7 && m.state === 'armed')!;
    expect(armed.at).toMatch(/esm\/loop\.mjs, generated line 6 column \d+ \(template and gate compiled in by live edit: [\d.]+ ms; a hit logs with no pause\)$/);
    const counted = sent().flatMap((m) => (m.type === 'probe-hits' ? (m.hits as [number, number, number][]) : [])).filter(([id]) => id === 7);
    expect(counted.reduce((n, [, hits]) => n + hits, 0)).toBe(50_000);
    expect(logged(7).length).toBeGreaterThanOrEqual(1);
    expect(logged(7).length).toBeLessThanOrEqual(counted.reduce((n, [, , paused]) => n + paused, 0));
    expect(sent().some((m) => m.id === 7 && m.event === 'suspended')).toBe(false);
  });

  it('a --when that throws at its first pass is logged once with TSPUMA_ERR_PROBE_WHEN_THROWS naming the error and the names in scope: a ReferenceError removes the probe, a TypeError (a const read on its own line) keeps it (P4)', () => {
    const removed = (id: number) => sent().find((m) => m.type === 'probe-event' && m.id === id && m.event === 'removed');
    expect(removed(8)).toMatchObject({ code: 'TSPUMA_ERR_PROBE_WHEN_THROWS' });
    expect(removed(8)!.message).toMatch(/^Probe 8 at test\/fixtures\/probes\/esm\/orders\.ts:8: its --when `nosuchvar === 1` threw ReferenceError: nosuchvar is not defined at its first pass in worker 0; removed: .* The names in scope there: .*\border\b.*\bapiKey\b/);
    expect(removed(9)).toBeUndefined();
    const warned = lines.filter((l) => l.code === 'TSPUMA_ERR_PROBE_WHEN_THROWS');
    expect(warned.filter((l) => l.probe === 8 || l.probe === 9).map((l) => l.probe)).toEqual([8, 9]);
    expect(warned[1]!.msg).toMatch(/threw TypeError: Cannot read properties of undefined \(reading 'toFixed'\) at its first pass in worker 0; kept, .*probe the line after its declaration/);
    expect(logged(8)).toEqual([]);
  });

  it('a probe in a script over live edit\'s bound (193 KB, 3,000 functions) keeps its breakpoint, says why in its `at`, and hits (P3)', () => {
    const armed = sent().find((m) => m.type === 'probe-state' && m.id === 10 && m.state === 'armed')!;
    expect(armed.at).toMatch(/big\.mjs, generated line 2 column 13 \(breakpoint: the script is 193 KB with 3000 functions, over live edit's bound of 100 KB or 1500 functions, which keeps an edit under ~100 ms\)$/);
    expect(logged(10).map((l) => l.msg)).toEqual([expect.stringMatching(/: 1$/)]);
  });

  it('a probe on the first line of a multi-line route (`api.get(\'/quote/:id\', async (req) => {`) stops in the route\'s function at its first statement, with its parameters, and the set answer says so (P5)', () => {
    for (const [id, file, value] of [[11, 'route.ts', '4'], [12, 'route.mjs', '6']] as const) {
      const armed = sent().find((m) => m.type === 'probe-state' && m.id === id && m.state === 'armed')!;
      expect(armed.note).toBe('in the function that starts on the line, at its first statement (line 6): the line\'s module code ran once, at load');
      expect(logged(id).map((l) => l.msg)).toEqual([`probe ${id} test/fixtures/probes/esm/${file}:5: quote ${value}`]);
    }
  });

  it('a script V8 no longer has ("Script not found") does not stop a probe: it is armed in the file\'s live script and hits (P7.2)', () => {
    expect(lines.find((l) => 'armThrew' in l)).toBeUndefined();
    expect(sent()).toContainEqual(expect.objectContaining({ type: 'probe-state', id: 13, state: 'armed' }));
    expect(logged(13).map((l) => l.msg)).toEqual(['probe 13 test/fixtures/probes/esm/orders.ts:10: thirteen 2']);
  });

  it('a probe with no --when set before its plain module loads keeps a breakpoint (no live edit before the module runs) and hits; a later probe on the file is compiled in and hits too (P8)', () => {
    const at = (id: number) => String(sent().find((m) => m.type === 'probe-state' && m.id === id && m.state === 'armed')!.at);
    expect(at(14)).toMatch(/lazy\.mjs, generated line 4 column \d+$/);
    expect(logged(14).map((l) => l.msg)).toEqual(['probe 14 test/fixtures/probes/esm/lazy.mjs:4: d=8', 'probe 14 test/fixtures/probes/esm/lazy.mjs:4: d=10']);
    expect(at(15)).toContain('(template and gate compiled in by live edit');
    expect(logged(15).map((l) => l.msg)).toEqual(['probe 15 test/fixtures/probes/esm/lazy.mjs:5: t=15']);
  });

  it('a --when reading a name the enclosing function on the stack has but the callback does not use is removed with a message saying so, not "not in scope" (P11)', () => {
    const removed = sent().find((m) => m.type === 'probe-event' && m.id === 16 && m.event === 'removed')!;
    expect(removed).toMatchObject({ code: 'TSPUMA_ERR_PROBE_WHEN_THROWS' });
    expect(removed.message).toContain('removed: `id` is a name of a function further up the stack (items), which this function does not use, so V8 keeps no copy of it here; probe a line of that function, or use the name in this one');
  });

  it('a template name of the enclosing function that the callback does not use is read in that function\'s frame on the stack; a caller that does not enclose the callback is not read (P11)', () => {
    expect(logged(17).map((l) => [l.msg, l.readIn])).toEqual([2, 4, 6].map((y) => [`probe 17 test/fixtures/probes/esm/items.mjs:6: y=${y} id=7`, { id: '#1 items' }]));
    expect(logged(18).map((l) => [l.msg, l.readIn])).toEqual([['probe 18 test/fixtures/probes/esm/items.mjs:18: z=2 id=<ReferenceError: id is not defined>', undefined]]);
  });

  it('in a process nothing can attach to, pauses are resumed in-process with no resumer thread; once the process becomes attachable the thread starts and a hit still logs and returns', () => {
    expect(lines.find((l) => 'resumerThread' in l)).toEqual({ resumerThread: ['none', 'live'], afterAttachable: 3 });
    expect(logged(26).map((l) => l.msg)).toEqual(['probe 26 test/fixtures/probes/esm/loop.mjs:4: again 2', 'probe 26 test/fixtures/probes/esm/loop.mjs:4: again 3']);
  });

  it('a line after an early return in an ES module tsx compiles onto one line stops at its own statement, not at the return before it (T1)', () => {
    expect(lines.find((l) => 't1' in l)).toEqual({ t1: [144, null] });
    expect(logged(27).map((l) => l.msg)).toEqual(['probe 27 test/fixtures/probes/esm/t1/orders-service.ts:10: l10 10']);
  });

  it('a condition that writes never runs: it is checked with the side-effect check before V8 evaluates it', () => {
    expect(lines.find((l) => 'seen' in l)).toEqual({ seen: null });
  });
});
