// `npm run bench`: hello world under load against raw node:http, raw node:cluster, tspuma (single,
// -d, -w 2), the anchors users pick for their framework (Hono on @hono/node-server, a fetch
// handler on @hono/node-server, Express on node:http) and Puma and WEBrick when installed, in one
// run; prints the table, writes results.
import autocannon from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { freePort } from './ports.js';
import { fileURLToPath } from 'node:url';
import { closeLoop } from './close-loop.js';
import { canPin, pin, processTree, treeCpuSeconds } from './cpu.js';
import { hasWrk, wrk } from './wrk.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Seconds of one burst: every target of a cell is up at once, and bursts alternate between them. */
const DURATION = Number(process.env.BENCH_SECONDS ?? 2);
const WARMUP = 2;
/**
 * Rounds of bursts, each round over every target in a rotated order. The machines here drift by a
 * third within seconds (one server measured 26 to 49 µs of CPU per request in consecutive 5 s
 * runs), so a target is compared with its baseline in bursts seconds apart, not runs minutes apart.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
/**
 * The rounds of a cell are split among this many launches of every target: the same server can
 * measure differently from one launch to the next (the listener row gave 0.75x in one cell and
 * 1.18x in the next of a one-launch run), so no row rests on one process.
 */
const LAUNCHES = Math.max(1, Math.min(ROUNDS, Number(process.env.BENCH_LAUNCHES ?? 3)));
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
type Stdio = ['ignore', 'ignore' | 'pipe', 'inherit' | 'pipe'];
const stdio: Stdio = ['ignore', 'ignore', 'inherit'];
/** Output piped: the capture cost record a -d server logs at exit is read from its stdout (its dumps on stderr are kept off the terminal). */
const keepOutput: Stdio = ['ignore', 'pipe', 'pipe'];

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
/** Keep-alive bursts run with wrk (C) where it is installed; autocannon (Node) otherwise. */
const WRK = hasWrk();
if (!WRK) notes.push('keep-alive client: autocannon, since wrk is not installed (apt-get install wrk); a Node client saturates first and pulls ratios towards 1.0x');
const anchor = (kind: 'hono' | 'fetch' | 'express') => (port: number) => node([`${ROOT}dist/bench/anchors.js`, kind, String(port)]);
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
    start: (port) => tspuma(port, ['-d', '--inspect=127.0.0.1:0'], 'bench/throw-app.ts', keepOutput),
  },
  // The anchors users compare with: the same app modules on the server they would otherwise pick.
  { name: '@hono/node-server (Hono)', baseline: null, start: anchor('hono') },
  { name: 'tspuma (Hono)', baseline: '@hono/node-server (Hono)', start: (port) => tspuma(port, [], 'bench/hono-app.ts') },
  { name: '@hono/node-server (fetch handler)', baseline: null, start: anchor('fetch') },
  { name: 'tspuma (fetch handler)', baseline: '@hono/node-server (fetch handler)', start: (port) => tspuma(port, [], 'bench/fetch-app.ts') },
  { name: 'Express on node:http', baseline: null, start: anchor('express') },
  { name: 'tspuma (Express 5)', baseline: 'Express on node:http', start: (port) => tspuma(port, [], 'bench/express-app.ts') },
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
/** Extra launches, alternating tspuma single on hello.ts and on hello.mjs, only to time boot (a cell launches each target once). */
const BOOT_RUNS = Number(process.env.BENCH_BOOT_RUNS ?? (SELECTED ? 0 : 10));

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
  if (WRK) return wrk(port, connections, seconds);
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  return { reqPerSec: r.requests.total / seconds, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
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

/** One burst against one target. */
interface Burst extends Load {
  /** CPU seconds of the server's processes during the burst; null without /proc. */
  cpu: number | null;
}

/**
 * The median over rounds of `name`'s req/s over `baseName`'s in the same round: pairing by
 * round cancels the drift of a shared machine between rounds, which dividing two medians does not.
 */
function pairedRatio(rounds: Map<string, { reqPerSec: number }[]>, name: string, baseName: string): number | null {
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

interface Live {
  target: Target;
  port: number;
  child: ChildProcess;
  bootMs: number;
  /** The target's stdout, when piped (the capture cost record). */
  output: string;
  bursts: Burst[];
}

/** Pins a target's processes (a cluster's workers too, once they are up). */
function pinTarget(l: Live): void {
  if (canPin) for (const pid of processTree(l.child.pid!)) pin(pid, l.target.cluster ? CLUSTER_CORES : SOLO_CORES);
}

async function burst(l: Live, connections: number, shape: Shape): Promise<Burst> {
  const before = treeCpuSeconds(l.child.pid!);
  const r = await load(l.port, connections, DURATION, shape);
  const after = treeCpuSeconds(l.child.pid!);
  return { ...r, cpu: before === null || after === null ? null : after - before };
}

/**
 * One launch within a cell (shape x connections): every target started (its boot timed), warmed,
 * then `rounds` rounds of one burst each, the order rotated each round (from `firstRound`); then
 * all stopped.
 */
async function runLaunch(shape: Shape, connections: number, firstRound: number, rounds: number): Promise<Live[]> {
  const live: Live[] = [];
  try {
    for (const target of TARGETS) {
      if (target.shapes && !target.shapes.includes(shape)) continue;
      process.stderr.write(`${shape}, ${connections} connections: starting ${target.name}...\n`);
      const { port, child, ready } = await launch(target);
      const l: Live = { target, port, child, bootMs: 0, output: '', bursts: [] };
      child.stderr?.resume();
      child.stdout?.on('data', (c: Buffer) => {
        if (l.output.length < 1_000_000) l.output += c.toString();
      });
      live.push(l);
      l.bootMs = await ready;
    }
    if (canPin) pin(process.pid, '0');
    for (const l of live) {
      pinTarget(l);
      await load(l.port, connections, WARMUP, shape);
      pinTarget(l); // workers forked since
    }
    for (let round = firstRound; round < firstRound + rounds; round++) {
      process.stderr.write(`${shape}, ${connections} connections: round ${round + 1}/${ROUNDS} of ${DURATION} s bursts\n`);
      const shift = round % live.length;
      for (const l of [...live.slice(shift), ...live.slice(0, shift)]) l.bursts.push(await burst(l, connections, shape));
    }
    return live;
  } finally {
    if (canPin) pin(process.pid, ALL_CORES);
    await Promise.all(live.map((l) => stop(l.child)));
    for (const l of live) {
      // The record's msg (JSON text: no quote or backslash in it).
      const cost = /"msg":"debug capture cost: ([^"]*)"/.exec(l.output)?.[1];
      if (cost) costLines.push(`${l.target.name}, ${shape}, ${connections} conns: ${cost}`);
    }
  }
}

/** A target's measurements in one cell, over all its launches: bursts in round order. */
interface Measured {
  target: Target;
  bursts: Burst[];
  boots: number[];
}

/** A cell: ROUNDS rounds split among LAUNCHES launches. */
async function runCell(shape: Shape, connections: number): Promise<Measured[]> {
  const byName = new Map<string, Measured>();
  let round = 0;
  for (let launch = 0; launch < LAUNCHES; launch++) {
    const rounds = Math.floor(ROUNDS / LAUNCHES) + (launch < ROUNDS % LAUNCHES ? 1 : 0);
    for (const l of await runLaunch(shape, connections, round, rounds)) {
      const entry = byName.get(l.target.name) ?? { target: l.target, bursts: [], boots: [] };
      entry.bursts.push(...l.bursts);
      entry.boots.push(l.bootMs);
      byName.set(l.target.name, entry);
    }
    round += rounds;
  }
  return [...byName.values()];
}

/** A row from a target's bursts: req/s over all of them, latency and CPU per request from their sums and medians. */
function rowOf(l: Measured, shape: Shape, connections: number): Row {
  const requests = l.bursts.reduce((n, b) => n + b.requests, 0);
  const cpus = l.bursts.map((b) => b.cpu);
  const cpu = cpus.includes(null) ? null : (cpus as number[]).reduce((n, c) => n + c, 0);
  return {
    target: l.target.name,
    connections,
    shape,
    bootMs: median(l.boots, (x) => x),
    reqPerSec: requests / (l.bursts.length * DURATION),
    requests,
    p50: median(l.bursts, (b) => b.p50).p50,
    p99: median(l.bursts, (b) => b.p99).p99,
    errors: l.bursts.reduce((n, b) => n + b.errors, 0),
    cpuUs: cpu === null || requests === 0 ? null : Math.round((cpu * 1e6) / requests),
  };
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
  // Issue 27's: against what users of each framework would otherwise run.
  ['tspuma (Hono)', '@hono/node-server (Hono)', 1.0],
  ['tspuma (fetch handler)', '@hono/node-server (fetch handler)', 1.0],
  ['tspuma (Express 5)', 'Express on node:http', 0.98],
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
  /** Spawn-to-first-200 of every launch, by target. */
  const boots = new Map<string, number[]>();
  for (const shape of SHAPES) {
    for (const connections of CONNECTIONS) {
      const cell = await runCell(shape, connections);
      const rounds = new Map(cell.map((l) => [l.target.name, l.bursts]));
      for (const l of cell) {
        boots.set(l.target.name, [...(boots.get(l.target.name) ?? []), ...l.boots]);
        rows.push({ ...rowOf(l, shape, connections), ratio: l.target.baseline ? pairedRatio(rounds, l.target.name, l.target.baseline) ?? undefined : 1 });
      }
      GOALS.forEach(([name, baseName], i) => {
        const ratio = pairedRatio(rounds, name, baseName);
        if (ratio !== null) goalRatios[i]!.push(ratio);
      });
    }
  }
  const bootOnly: number[] = [];
  const single = TARGETS.find((t) => t.name === 'tspuma single');
  for (let i = 1; i <= BOOT_RUNS; i++) {
    process.stderr.write(`boot ${i}/${BOOT_RUNS}: ${BOOT_ONLY.name}${single ? ` and ${single.name}` : ''}...\n`);
    bootOnly.push(await bootOnce(BOOT_ONLY));
    if (single) boots.set(single.name, [...(boots.get(single.name) ?? []), await bootOnce(single)]);
  }
  const nodeStart = BOOT_RUNS > 0 ? nodeStartMs(process.env) : null;
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const nodeStartPlain = BOOT_RUNS > 0 && extraCa ? nodeStartMs(Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS'))) : null;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()} ${os.release()}`;
  const lines = [
    `machine: ${machine}`,
    `per cell (shape x connections): ${ROUNDS} rounds of one ${DURATION} s burst per target, each round in a rotated order, split among ${LAUNCHES} launches; in a launch every target is up at once and gets ${WARMUP} s of warm-up; keep-alive: ${WRK ? 'wrk -t1' : 'autocannon'}; close: a new connection per request (the seed's ab -c 10 -n 5000 shape)`,
    `req/s: all of a row's requests over its bursts' time; p50/p99: the median burst's; server CPU: over all bursts`,
    `ratio: the median over rounds of a burst's req/s against the baseline's burst in the same round, seconds apart (raw node:cluster -w 2 for -w 2 rows, tspuma single for -d and the throwing app, the throwing app for its -d row, the same app on @hono/node-server or Express's app.listen for the Hono, fetch handler and Express rows, raw node:http otherwise)`,
    ...notes,
    ...(WRK ? [] : ['p50/p99 of keep-alive rows whose server closes connections (tspuma after its own limit, at most maxKeepAlive = 999 requests, the throwing app after each 500) overstate latency: autocannon does not forget the requests it sent on a connection the server closed, so every later response on it is timed from an older request']),
    '',
    '| target | shape | conns | req/s | p50 ms | p99 ms | errors | server CPU µs/req | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    lines.push(`| ${row.target} | ${row.shape} | ${row.connections} | ${Math.round(row.reqPerSec)} | ${row.p50} | ${row.p99} | ${row.errors} | ${row.cpuUs ?? '-'} | ${row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`} |`);
  }
  // Boot: spawn to the first 200, the median over every launch of that target.
  lines.push('', '| target | boot to first 200, ms (median of all launches) | launches |', '| --- | ---: | ---: |');
  for (const t of TARGETS) {
    const runs = boots.get(t.name);
    if (runs && runs.length > 0) lines.push(`| ${t.name} | ${Math.round(median(runs, (x) => x))} | ${runs.length} |`);
  }
  const bootCompiled = BOOT_RUNS > 0 ? median(bootOnly, (x) => x) : null;
  if (bootCompiled !== null) lines.push(`| ${BOOT_ONLY.name} (boot only) | ${bootCompiled} | ${BOOT_RUNS} |`);
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
  const singleBoots = boots.get('tspuma single');
  if (singleBoots && singleBoots.length > 0) {
    const bootSingle = Math.round(median(singleBoots, (x) => x));
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
  writeFileSync(`${ROOT}bench/results/${SELECTED ? 'partial' : 'latest'}.json`, `${JSON.stringify({ machine, date: new Date().toISOString(), burstSeconds: DURATION, rounds: ROUNDS, launches: LAUNCHES, notes, rows, bootOnly: { target: BOOT_ONLY.name, runsMs: bootOnly }, table: lines }, null, 2)}\n`);
}

await main();
