// `npm run bench:boot`: the CPU a boot costs, spawn to its last boot line ('Use Ctrl-C to stop',
// and in a cluster every worker booted), for each way users start tspuma, against bare node:http. Each process of the
// tree reports its own process.cpuUsage() at that moment (bench/boot-mark.ts, loaded with
// --import), so the figure counts every thread (the TypeScript hooks thread, the inspector's) and
// nothing after the boot. The client commands (`tspuma ctl stats`, `tspuma probe list`) are
// measured whole, spawn to exit, against one single-mode server started for them. Targets are
// launched in turn, one at a time, BOOT_RUNS rounds; the median of each is printed and written to
// bench/results/boot-cpu.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processTree } from './cpu.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = Number(process.env.BOOT_RUNS ?? 10);
/** Comma-separated target names to run (all when unset). */
const ONLY = process.env.BOOT_TARGETS?.split(',').map((s) => s.trim());
const CLI = join(ROOT, 'dist/server/cli.js');
const MARK = pathToFileURL(join(ROOT, 'dist/bench/boot-mark.js')).href;


/**
 * Another checkout (built) to compare with, side by side: BOOT_BASE=/path/to/it adds a
 * `(base)` row for each tspuma target, launched in the same rounds from that checkout.
 */
const BASE = process.env.BOOT_BASE;

interface Target {
  name: string;
  args: string[];
  /** The folder it runs in (its own checkout's, for a base row). */
  cwd: string;
  /**
   * The stdout lines (a JSON log record's msg, or plain text) that say the boot is done, all of
   * them: the last boot line comes after the inspector's lines (-d turns --inspect on).
   */
  ready: RegExp[];
  /** A client command: measured spawn to exit (it must exit 0), not to a ready line. */
  client?: true;
}

const tspuma = (name: string, args: string[], ready = [/^Use Ctrl-C to stop/]): Target[] => [
  { name, args: [CLI, '-b', 'tcp://127.0.0.1:0', ...args], cwd: ROOT, ready },
  ...(BASE ? [{ name: `${name} (base)`, args: [join(BASE, 'dist/server/cli.js'), '-b', 'tcp://127.0.0.1:0', ...args], cwd: BASE, ready }] : []),
];
const cluster = [/^Use Ctrl-C to stop/, /^- All 2 workers booted/];
/** The state file of the server the client commands talk to (set once it runs). */
let clientState = '';
const client = (name: string, args: string[]): Target[] => [
  { name, args: [CLI, ...args], cwd: ROOT, ready: [], client: true },
  ...(BASE ? [{ name: `${name} (base)`, args: [join(BASE, 'dist/server/cli.js'), ...args], cwd: BASE, ready: [], client: true as const }] : []),
];

const TARGETS: Target[] = [
  [{ name: 'node:http', args: [join(ROOT, 'dist/bench/raw-node.js'), '0'], cwd: ROOT, ready: [/^ready$/] }],
  tspuma('tspuma .mjs', ['bench/hello.mjs']),
  tspuma('tspuma .ts', ['examples/hello.ts']),
  tspuma('tspuma Express .ts', ['bench/express-app.ts']),
  tspuma('tspuma -d .ts', ['-d', 'examples/hello.ts']),
  tspuma('tspuma --control-url .ts', ['--control-url', 'tcp://127.0.0.1:0', 'examples/hello.ts']),
  tspuma('tspuma -w 2 .ts', ['-w', '2', 'examples/hello.ts'], cluster),
  tspuma('tspuma -d -w 2 .ts', ['-d', '-w', '2', 'examples/hello.ts'], cluster),
  client('tspuma ctl stats', ['ctl', 'stats', '-S', '{state}']),
  client('tspuma probe list', ['probe', 'list', '-S', '{state}']),
]
  .flat()
  .filter((t) => !ONLY || ONLY.includes(t.name.replace(/ \(base\)$/, '')));

/** Issue 31's targets, median CPU ms. */
const GOALS: Record<string, number> = { 'tspuma .ts': 110, 'tspuma -d .ts': 200, 'tspuma -w 2 .ts': 350 };

interface Boot {
  /** CPU ms of the whole tree. */
  total: number;
  /** CPU ms of the process spawned (the primary in cluster mode). */
  first: number;
  /** CPU ms of each other process (workers). */
  others: number[];
}

function waitForLines(child: ChildProcess, ready: RegExp[], ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no ready lines in ${ms} ms; stdout: ${buffered.slice(-2000)}`)), ms);
    const seen = new Set<RegExp>();
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n')) {
        let msg = line;
        try {
          msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
        } catch {
          /* plain text */
        }
        for (const r of ready) if (r.test(msg)) seen.add(r);
        if (seen.size === ready.length) {
          clearTimeout(timer);
          child.stdout!.removeAllListeners('data');
          child.stdout!.resume();
          resolve();
          return;
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) before the ready line; stdout: ${buffered.slice(-2000)}`)));
  });
}

async function pollFor<T>(what: () => string, ms: number, check: () => T | null): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function isNode(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === process.execPath;
  } catch {
    return false;
  }
}

async function bootOnce(t: Target, markDir: string): Promise<Boot> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${MARK}`.trim(), BOOT_MARK_DIR: markDir };
  if (process.env.BOOT_NO_EXTRA_CA === '1') delete env.NODE_EXTRA_CA_CERTS;
  if (t.client) return clientOnce(t, env, markDir);
  const child = spawn(process.execPath, t.args, { cwd: t.cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitForLines(child, t.ready, 60_000);
    // Node processes only: a .ts app's compile may have started esbuild's service binary.
    const pids = processTree(child.pid!).filter((p) => isNode(p));
    for (const p of pids) process.kill(p, 'SIGWINCH');
    const cpu = await pollFor(() => `${t.name}: every process of ${pids.join(', ')} to report its CPU`, 10_000, () => {
      const got: number[] = [];
      for (const p of pids) {
        try {
          got.push((JSON.parse(readFileSync(join(markDir, `${p}.json`), 'utf8')) as { cpuMs: number }).cpuMs);
        } catch {
          return null;
        }
      }
      return got;
    });
    return { total: cpu.reduce((a, b) => a + b, 0), first: cpu[0]!, others: cpu.slice(1) };
  } finally {
    await stop(child);
  }
}

/** A client command, spawn to exit: its own CPU, written by boot-mark at exit. */
async function clientOnce(t: Target, env: NodeJS.ProcessEnv, markDir: string): Promise<Boot> {
  const args = t.args.map((a) => (a === '{state}' ? clientState : a));
  const child = spawn(process.execPath, args, { cwd: t.cwd, env: { ...env, BOOT_MARK_AT_EXIT: '1' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`${t.name} exited ${code}`);
  const { cpuMs } = JSON.parse(readFileSync(join(markDir, `${child.pid}.json`), 'utf8')) as { cpuMs: number };
  return { total: cpuMs, first: cpuMs, others: [] };
}

/** The single-mode server (with a control app and a state file) the client commands talk to. */
async function clientServer(markDir: string): Promise<ChildProcess | null> {
  if (!TARGETS.some((t) => t.client)) return null;
  clientState = join(markDir, 'server.state');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.env.BOOT_NO_EXTRA_CA === '1') delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, [CLI, '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', clientState, 'bench/hello.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitForLines(child, [/^Use Ctrl-C to stop/], 60_000);
  } catch (err) {
    await stop(child);
    throw err;
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const markDir = mkdtempSync(join(os.tmpdir(), 'tspuma-boot-cpu-'));
  const boots = new Map<string, Boot[]>(TARGETS.map((t) => [t.name, []]));
  const server = await clientServer(markDir);
  try {
    for (let i = 1; i <= RUNS; i++) {
      process.stderr.write(`round ${i}/${RUNS}\n`);
      // A rotated order each round: no target always follows the same one.
      for (let k = 0; k < TARGETS.length; k++) {
        const t = TARGETS[(k + i) % TARGETS.length]!;
        boots.get(t.name)!.push(await bootOnce(t, markDir));
      }
    }
  } finally {
    if (server) await stop(server);
    rmSync(markDir, { recursive: true, force: true });
  }
  const load = os.loadavg()[0]!.toFixed(1);
  const extraCa = process.env.BOOT_NO_EXTRA_CA === '1' ? 'unset' : (process.env.NODE_EXTRA_CA_CERTS ?? 'unset');
  const lines = [
    `boot CPU, ms (process.cpuUsage() of every process at the ready line), median of ${RUNS}; node ${process.version}, load ${load}, NODE_EXTRA_CA_CERTS ${extraCa}`,
    '',
    '| target | total | first process | each other process | min | max | goal |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const rows = TARGETS.map((t) => {
    const b = boots.get(t.name)!;
    const totals = b.map((x) => x.total);
    const others = b.flatMap((x) => x.others);
    const row = { target: t.name, medianMs: Math.round(median(totals)), firstMs: Math.round(median(b.map((x) => x.first))), otherMs: others.length ? Math.round(median(others)) : null, minMs: Math.round(Math.min(...totals)), maxMs: Math.round(Math.max(...totals)), runsMs: totals.map(Math.round) };
    const goal = GOALS[t.name.replace(/ \(base\)$/, '')];
    lines.push(`| ${t.name} | ${row.medianMs} | ${row.firstMs} | ${row.otherMs ?? ''} | ${row.minMs} | ${row.maxMs} | ${goal !== undefined ? `<= ${goal}: ${row.medianMs <= goal ? 'met' : 'MISSED'}` : ''} |`);
    return row;
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, `bench/results/${ONLY ? 'boot-cpu-partial' : 'boot-cpu'}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, load, extraCa, runs: RUNS, rows, table: lines }, null, 2)}\n`);
}

await main();
