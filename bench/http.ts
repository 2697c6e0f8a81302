// `npm run bench`: hello world under load against raw node:http, raw node:cluster, tspuma (single,
// -d, -w 2) and Puma and WEBrick when installed, in one run; prints the table, writes results.
import autocannon from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { freePort } from './ports.js';
import { fileURLToPath } from 'node:url';
import { closeLoop } from './close-loop.js';
import { canPin, pin, processTree, treeCpuSeconds } from './cpu.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = 2;
/** Targets run interleaved, ROUNDS times each, in a rotated order; the median round is reported (this machine is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '10,100').split(',').map(Number);
/** keep-alive (autocannon) and close (a new connection per request, the seed's `ab -c 10 -n 5000` shape). */
const SHAPES = (process.env.BENCH_SHAPES ?? 'keep-alive,close').split(',') as Shape[];
type Shape = 'keep-alive' | 'close';

interface Target {
  name: string;
  /** What its ratio is taken against. */
  baseline: string | null;
  start(port: number): ChildProcess;
  /** A cluster (primary and workers) rather than one process. */
  cluster?: boolean;
  /** Only these shapes (all when absent). */
  shapes?: Shape[];
}

/**
 * Where servers run under load (boot is measured unpinned). With two cores or more and taskset,
 * the load generator (this process) gets core 0 and a single-process server a core of its own,
 * so a row measures the server, not the two fighting over one core; a cluster gets every core but
 * 0 when there are three or more, else every core.
 */
const CORES = os.cpus().length;
const SOLO_CORES = String(CORES - 1);
const CLUSTER_CORES = CORES >= 3 ? `1-${CORES - 1}` : `0-${CORES - 1}`;
const ALL_CORES = `0-${CORES - 1}`;
type Stdio = ['ignore', 'ignore', 'inherit' | 'pipe'];
const stdio: Stdio = ['ignore', 'ignore', 'inherit'];
/** stderr piped: the capture cost line a -d server prints at exit is read from it. */
const keepStderr: Stdio = ['ignore', 'ignore', 'pipe'];

const node = (args: string[], io = stdio) => spawn(process.execPath, args, { stdio: io });
const tspuma = (port: number, extra: string[], app = 'examples/hello.ts', io = stdio) =>
  node([`${ROOT}dist/server/cli.js`, ...extra, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}${app}`], io);

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const notes: string[] = [];
/** The capture cost lines -d servers print at exit, one per run. */
const costLines: string[] = [];
const TARGETS: Target[] = [
  { name: 'raw node:http', baseline: null, start: (port) => node([`${ROOT}dist/bench/raw-node.js`, String(port)]) },
  { name: 'tspuma single', baseline: 'raw node:http', start: (port) => tspuma(port, []) },
  // raw node:http's own handler as a Node listener: the server without the Rack adapter's work.
  { name: 'tspuma single (listener)', baseline: 'raw node:http', start: (port) => tspuma(port, [], 'bench/listener-app.ts') },
  // Debug mode on a path that never throws: what the diagnostics layer costs when nothing fails.
  { name: 'tspuma single -d', baseline: 'tspuma single', start: (port) => tspuma(port, ['-d', '--inspect=127.0.0.1:0']) },
  // An app that throws on every tenth request (a 500 each), without and with the capture layer.
  { name: 'tspuma throws 10%', baseline: 'tspuma single', shapes: ['keep-alive'], start: (port) => tspuma(port, [], 'bench/throw-app.ts') },
  {
    name: 'tspuma throws 10% -d',
    baseline: 'tspuma throws 10%',
    shapes: ['keep-alive'],
    start: (port) => tspuma(port, ['-d', '--inspect=127.0.0.1:0'], 'bench/throw-app.ts', keepStderr),
  },
  { name: 'raw node:cluster -w 2', baseline: null, cluster: true, start: (port) => node([`${ROOT}dist/bench/raw-cluster.js`, String(port)]) },
  { name: 'tspuma -w 2', baseline: 'raw node:cluster -w 2', cluster: true, start: (port) => tspuma(port, ['-w', '2']) },
  // The same app as raw node:cluster's workers: cluster mode without the Rack adapter's work.
  { name: 'tspuma -w 2 (listener)', baseline: 'raw node:cluster -w 2', cluster: true, start: (port) => tspuma(port, ['-w', '2'], 'bench/listener-app.ts') },
];
if (has('puma', ['--version'])) {
  const puma = (port: number, extra: string[]) => spawn('puma', ['-e', 'production', '-b', `tcp://127.0.0.1:${port}`, ...extra, `${ROOT}bench/hello.ru`], { stdio });
  TARGETS.push({ name: 'Puma single', baseline: 'raw node:http', start: (port) => puma(port, []) });
  TARGETS.push({ name: 'Puma -w 2 -t 4:4', baseline: 'raw node:cluster -w 2', cluster: true, start: (port) => puma(port, ['-w', '2', '-t', '4:4']) });
} else notes.push('Puma: skipped, `puma` is not installed (apt-get install puma)');
if (has('ruby', ['-rwebrick', '-e', ''])) {
  TARGETS.push({ name: 'WEBrick', baseline: 'raw node:http', start: (port) => spawn('ruby', [`${ROOT}bench/webrick.rb`, String(port)], { stdio }) });
} else notes.push('WEBrick: skipped, ruby with webrick is not installed (apt-get install ruby-webrick)');

/**
 * BENCH_TARGETS=name,name runs only those rows and their baselines (to re-measure one comparison);
 * its results go to bench/results/partial.json, leaving the full run's latest.json alone.
 */
const SELECTED = process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean) ?? null;
if (SELECTED) {
  const unknown = SELECTED.filter((name) => !TARGETS.some((t) => t.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`BENCH_TARGETS: unknown target(s) ${unknown.map((n) => JSON.stringify(n)).join(', ')}; expected names from: ${TARGETS.map((t) => t.name).join(', ')}\n`);
    process.exit(2);
  }
  const keep = new Set(SELECTED);
  for (const t of TARGETS) if (keep.has(t.name) && t.baseline) keep.add(t.baseline);
  TARGETS.splice(0, TARGETS.length, ...TARGETS.filter((t) => keep.has(t.name)));
}

/** Boot only (no load): the seed's hello world as plain JavaScript, no TypeScript loader to start. */
const BOOT_ONLY: Target = { name: 'tspuma single, bench/hello.mjs', baseline: null, start: (port) => tspuma(port, [], 'bench/hello.mjs') };
const BOOT_RUNS = Number(process.env.BENCH_BOOT_RUNS ?? (SELECTED ? 0 : 5));

/** Milliseconds from spawn to the first 200 with the hello body. */
async function waitReady(port: number, since: number, deadlineMs = 30_000): Promise<number> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if (res.status === 200 && (await res.text()) === 'Hello World\n') return performance.now() - since;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`server on port ${port} did not answer within ${deadlineMs} ms`);
}

interface Load {
  reqPerSec: number;
  /** Requests completed (for CPU per request). */
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(port: number, connections: number, seconds: number, shape: Shape): Promise<Load> {
  if (shape === 'close') {
    const c = await closeLoop(port, connections, seconds);
    return { ...c, requests: Math.round(c.reqPerSec * seconds) };
  }
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  return { reqPerSec: r.requests.average, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

interface Row extends Load {
  target: string;
  connections: number;
  shape: Shape;
  bootMs: number;
  /** CPU time of the server's processes (all of them) per request, µs; null without /proc. */
  cpuUs: number | null;
  /** Against the baseline: the median over rounds of this round's req/s over the baseline's in the same round. */
  ratio?: number;
}

/**
 * The median over rounds of `name`'s req/s over `baseName`'s in the same round: pairing by
 * round cancels the drift of a shared machine between rounds, which dividing two medians does not.
 */
function pairedRatio(rounds: Map<string, Row[]>, name: string, baseName: string): number | null {
  const mine = rounds.get(name);
  const base = rounds.get(baseName);
  if (!mine || !base || mine.length !== base.length) return null;
  return median(mine.map((r, i) => r.reqPerSec / base[i]!.reqPerSec), (x) => x);
}

/** Starts a target on a free port; `ready` resolves with spawn-to-first-200 milliseconds. */
async function launch(target: Target): Promise<{ port: number; child: ChildProcess; ready: Promise<number> }> {
  const port = await freePort();
  const since = performance.now();
  const child = target.start(port);
  return { port, child, ready: waitReady(port, since).then(Math.round) };
}

async function measure(target: Target, connections: number, shape: Shape): Promise<Row> {
  const { port, child, ready } = await launch(target);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 1_000_000) stderr += c.toString();
  });
  try {
    const bootMs = await ready;
    if (canPin) {
      pin(process.pid, '0');
      for (const pid of processTree(child.pid!)) pin(pid, target.cluster ? CLUSTER_CORES : SOLO_CORES);
    }
    await load(port, connections, WARMUP, shape);
    const before = treeCpuSeconds(child.pid!);
    const r = await load(port, connections, DURATION, shape);
    const after = treeCpuSeconds(child.pid!);
    const cpuUs = before === null || after === null || r.requests === 0 ? null : Math.round(((after - before) * 1e6) / r.requests);
    return { target: target.name, connections, shape, bootMs, cpuUs, ...r };
  } finally {
    if (canPin) pin(process.pid, ALL_CORES);
    await stop(child);
    const cost = /tspuma: debug capture cost: .*/.exec(stderr)?.[0];
    if (cost) costLines.push(`${target.name}, ${shape}, ${connections} conns: ${cost.replace('tspuma: debug capture cost: ', '')}`);
  }
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the server has exited. */
async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Spawn to first 200 of a server started only for that, then stopped. */
async function bootOnce(target: Target): Promise<number> {
  const { child, ready } = await launch(target);
  try {
    return await ready;
  } finally {
    await stop(child);
  }
}

/** `node -e 0`, spawn to exit: what any Node process costs to start here, before its own code. */
function nodeStartMs(env: NodeJS.ProcessEnv): number {
  const runs: number[] = [];
  for (let i = 0; i < BOOT_RUNS; i++) {
    const since = performance.now();
    execFileSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore', timeout: 10_000 });
    runs.push(performance.now() - since);
  }
  return Math.round(median(runs, (x) => x));
}

/** Issue 6's targets: [row, against, at least]. */
const GOALS: [string, string, number][] = [
  ['tspuma single', 'raw node:http', 0.95],
  ['tspuma -w 2', 'raw node:cluster -w 2', 0.95],
  ['tspuma -w 2', 'Puma -w 2 -t 4:4', 1.7],
  ['tspuma single -d', 'tspuma single', 0.95],
  ['tspuma throws 10% -d', 'tspuma throws 10%', 0.5],
];

function median<T>(items: T[], by: (t: T) => number): T {
  return [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)]!;
}

async function main(): Promise<void> {
  notes.push(
    canPin
      ? `cores under load: the load generator on core 0, single-process servers on core ${SOLO_CORES}, clusters on cores ${CLUSTER_CORES} (boot unpinned)`
      : 'cores: not pinned (one core, or no taskset): load generator and server share the machine',
  );
  const rows: Row[] = [];
  /** Each goal's paired ratio per cell, in GOALS order. */
  const goalRatios: number[][] = GOALS.map(() => []);
  for (const shape of SHAPES) {
    for (const connections of CONNECTIONS) {
      const rounds = new Map<string, Row[]>();
      for (let round = 1; round <= ROUNDS; round++) {
        // Each round starts further down the list, so no target always runs first or last.
        const shift = ((round - 1) * Math.max(1, Math.floor(TARGETS.length / ROUNDS))) % TARGETS.length;
        for (const target of [...TARGETS.slice(shift), ...TARGETS.slice(0, shift)]) {
          if (target.shapes && !target.shapes.includes(shape)) continue;
          process.stderr.write(`round ${round}/${ROUNDS}: ${target.name}, ${shape}, ${connections} connections, ${DURATION} s...\n`);
          rounds.set(target.name, [...(rounds.get(target.name) ?? []), await measure(target, connections, shape)]);
        }
      }
      for (const target of TARGETS) {
        if (!rounds.has(target.name)) continue;
        const row = median(rounds.get(target.name)!, (r) => r.reqPerSec);
        rows.push({ ...row, ratio: target.baseline ? pairedRatio(rounds, target.name, target.baseline) ?? undefined : 1 });
      }
      GOALS.forEach(([name, baseName], i) => {
        const ratio = pairedRatio(rounds, name, baseName);
        if (ratio !== null) goalRatios[i]!.push(ratio);
      });
    }
  }
  const bootOnly: number[] = [];
  for (let i = 1; i <= BOOT_RUNS; i++) {
    process.stderr.write(`boot ${i}/${BOOT_RUNS}: ${BOOT_ONLY.name}...\n`);
    bootOnly.push(await bootOnce(BOOT_ONLY));
  }
  const nodeStart = BOOT_RUNS > 0 ? nodeStartMs(process.env) : null;
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const nodeStartPlain = BOOT_RUNS > 0 && extraCa ? nodeStartMs(Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS'))) : null;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()} ${os.release()}`;
  const lines = [
    `machine: ${machine}`,
    `median of ${ROUNDS} interleaved rounds of ${DURATION} s after ${WARMUP} s warm-up, each round in a rotated order; keep-alive: autocannon; close: a new connection per request (the seed's ab -c 10 -n 5000 shape)`,
    `ratio: the median over rounds of req/s against the row's baseline in the same round, at the same shape and connections (raw node:cluster -w 2 for -w 2 rows, tspuma single for -d and the throwing app, the throwing app for its -d row, raw node:http otherwise)`,
    ...notes,
    'p50/p99 of keep-alive rows whose server closes connections (tspuma after maxKeepAlive = 999 requests, the throwing app after each 500) overstate latency: autocannon does not forget the requests it sent on a connection the server closed, so every later response on it is timed from an older request',
    '',
    '| target | shape | conns | req/s | p50 ms | p99 ms | errors | server CPU µs/req | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    lines.push(`| ${row.target} | ${row.shape} | ${row.connections} | ${Math.round(row.reqPerSec)} | ${row.p50} | ${row.p99} | ${row.errors} | ${row.cpuUs ?? '-'} | ${row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`} |`);
  }
  // Boot: spawn to the first 200, the median over every run of that target.
  lines.push('', '| target | boot to first 200, ms (median of all runs) |', '| --- | ---: |');
  for (const t of TARGETS) {
    const runs = rows.filter((r) => r.target === t.name);
    if (runs.length > 0) lines.push(`| ${t.name} | ${median(runs, (r) => r.bootMs).bootMs} |`);
  }
  const bootCompiled = BOOT_RUNS > 0 ? median(bootOnly, (x) => x) : null;
  if (bootCompiled !== null) lines.push(`| ${BOOT_ONLY.name} (boot only, ${BOOT_RUNS} runs) | ${bootCompiled} |`);
  // The targets, as same-run ratios paired by round, worst cell first.
  lines.push('');
  for (const [i, [name, baseName, goal]] of GOALS.entries()) {
    if (!rows.some((r) => r.target === name)) continue; // not selected (BENCH_TARGETS)
    const ratios = goalRatios[i]!;
    if (ratios.length === 0) {
      lines.push(`${name} vs ${baseName}: not measured (${baseName} not run)`);
      continue;
    }
    const worst = Math.min(...ratios);
    lines.push(`${name} vs ${baseName}, worst cell: ${worst.toFixed(2)}x, best: ${Math.max(...ratios).toFixed(2)}x (target >= ${goal.toFixed(2)}x): ${worst >= goal ? 'met' : 'MISSED'}`);
  }
  const singles = rows.filter((r) => r.target === 'tspuma single');
  if (singles.length > 0) {
    const bootSingle = median(singles, (r) => r.bootMs).bootMs;
    lines.push(`tspuma single boot to first 200: ${bootSingle} ms (target <= 300 ms): ${bootSingle <= 300 ? 'met' : 'MISSED'}`);
  }
  if (bootCompiled !== null) {
    lines.push(`  the same app as compiled JavaScript (${BOOT_ONLY.name}): ${bootCompiled} ms; the difference is the module-hooks thread that compiles .ts (esbuild or tsx), started for .ts apps only`);
  }
  if (nodeStart !== null) {
    const plain = nodeStartPlain === null ? '' : `; ${nodeStartPlain} ms without NODE_EXTRA_CA_CERTS (set here to ${extraCa}), which every process here pays at start, raw node:http's included`;
    lines.push(`  node itself (\`node -e 0\`, start to exit, median of ${BOOT_RUNS}): ${nodeStart} ms${plain}`);
  }
  if (costLines.length > 0) lines.push('', 'debug capture cost, as each -d server measured it (pause to resume):', ...costLines.map((l) => `- ${l}`));
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/${SELECTED ? 'partial' : 'latest'}.json`, `${JSON.stringify({ machine, date: new Date().toISOString(), durationSeconds: DURATION, rounds: ROUNDS, notes, rows, bootOnly: { target: BOOT_ONLY.name, runsMs: bootOnly }, table: lines }, null, 2)}\n`);
}

await main();
