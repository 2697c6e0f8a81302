// `node dist/bench/tick-shape.js [RUNS]`: what one process.nextTick costs before and after three
// full GCs run while no tick is queued, in a fresh node process without and with
// server/tick-object-shape.ts's kept tick object (bench/README.md, session 13). Each run is a new
// `node --expose-gc` child, the two kinds alternated; prints ns a tick (median of the runs) and the
// after/before ratio of each kind. A timing: run it under the bench lock on a shared machine.
import { spawnSync } from 'node:child_process';

const RUNS = Number(process.argv[2] ?? 6);
const MODULE = new URL('../server/tick-object-shape.js', import.meta.url).href;

// N ticks, each queued by the one before; the last resolves with the process's CPU ns a tick
// (CPU, not wall time: a shared machine's preemption does not count).
const SCRIPT = `
const N = 500000;
const burst = () => new Promise((resolve) => {
  let n = 0; const t0 = process.cpuUsage();
  const step = () => { if (++n < N) process.nextTick(step); else { const t = process.cpuUsage(t0); resolve(((t.user + t.system) * 1000) / N); } };
  process.nextTick(step);
});
(async () => {
  if (process.env.KEEP === '1') (await import(${JSON.stringify(MODULE)})).keepTickObjectShape();
  for (let i = 0; i < 5; i++) await burst();
  const before = await burst();
  await new Promise((r) => setTimeout(() => { for (let i = 0; i < 3; i++) gc(); r(); }, 1));
  for (let i = 0; i < 5; i++) await burst();
  const after = await burst();
  console.log(JSON.stringify({ before, after }));
})();`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const results: Record<string, { before: number[]; after: number[]; ratio: number[] }> = { plain: { before: [], after: [], ratio: [] }, kept: { before: [], after: [], ratio: [] } };
for (let r = 0; r < RUNS; r++) {
  for (const kind of r % 2 ? ['kept', 'plain'] : ['plain', 'kept']) {
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', SCRIPT], { encoding: 'utf8', env: { ...process.env, KEEP: kind === 'kept' ? '1' : '0' }, timeout: 120_000 });
    if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`);
    const { before, after } = JSON.parse(run.stdout) as { before: number; after: number };
    const row = results[kind]!;
    row.before.push(before);
    row.after.push(after);
    row.ratio.push(after / before);
  }
}
console.log(`ns per process.nextTick, median of ${RUNS} processes each; after = after three full GCs with no tick queued`);
for (const [kind, row] of Object.entries(results)) {
  console.log(`${kind.padEnd(6)} before ${median(row.before).toFixed(1)}  after ${median(row.after).toFixed(1)}  after/before ${median(row.ratio).toFixed(2)}x (each: ${row.ratio.map((x) => x.toFixed(2)).join(' ')})`);
}
