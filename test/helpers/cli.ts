// Spawns the built CLI (dist/server/cli.js) as a user would run `tspuma`, waits for its boot
// line, reads the addresses it bound on port 0 back from its log lines, and kills only what it
// started, by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './net.js';

/** How long `exited` waits, after a process's exit, for its stdout and stderr to close. */
const STREAMS_AFTER_EXIT_MS = 2_000;

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}dist/server/cli.js`;

export interface Spawned {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** JSON log lines from stdout (whole lines only). */
  lines(): Record<string, unknown>[];
  /** Resolves with the exit code (or 128+signal). */
  exited: Promise<number>;
}

const children = new Set<ChildProcess>();

/**
 * Every child run() started and no kill has swept yet, exited or not, with its spawn tag: the
 * SUITE_SPAWN value (`FORKPID-N`) put in its environment, which its workers, their children and
 * any process they start inherit (a cluster's fork() passes the primary's environment on). A
 * child that exited, or that a test SIGKILLed itself, leaves its workers running for seconds on a
 * loaded host (reparented away from this process, so no longer below it): kill() finds them by the
 * tag, and by when they started (`startTicks`: a process started before the child cannot be one of
 * its own, so its environment is not read).
 */
export const SPAWN_ENV = 'SUITE_SPAWN';
interface SpawnRecord {
  tag: string;
  /** The child's start time, in clock ticks after boot (/proc/PID/stat field 22); 0 when unread. */
  startTicks: number;
}
const spawned = new Map<ChildProcess, SpawnRecord>();
let spawnSeq = 0;

/** Fields of /proc/PID/stat after the command's ")": state [0], ppid [1], utime [11] … cstime [14], starttime [19]. */
function statFields(pid: number | string): number[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
  } catch {
    return null;
  }
}

/** Every CLI spawn of this process, by its flags (what test/helpers/each-file.ts counts per file). */
const spawnLog: string[] = [];
/** With no argument, a mark; with a mark, the spawns since it, counted by flags. */
export function spawnsSince(): number;
export function spawnsSince(mark: number): Record<string, number>;
export function spawnsSince(mark?: number): number | Record<string, number> {
  if (mark === undefined) return spawnLog.length;
  const counts: Record<string, number> = {};
  for (const k of spawnLog.slice(mark)) counts[k] = (counts[k] ?? 0) + 1;
  return counts;
}
function spawnKind(args: string[]): string {
  const flags: string[] = [];
  const w = args.findIndex((a) => a === '-w' || a === '--workers');
  if (args.includes('-d') || args.includes('--debug')) flags.push('-d');
  if (w !== -1) flags.push(`-w${args[w + 1]}`);
  // The app's file, not a config file's (`-C tspuma.config.mjs` before a `.ts` app read as `.mjs`).
  const app = args.find((a, i) => /\.(ts|mts|cts|mjs|js|cjs)$/.test(a) && !/^--config=/.test(a) && !['-C', '--config'].includes(args[i - 1]!));
  flags.push(app ? app.replace(/^.*\./, '.') : args[0] ?? '');
  return flags.join(' ');
}

/** The runner's environment without what changes tspuma's behaviour (CI=true on a CI machine, say). */
const AMBIENT = /^(TSPUMA_.*|CI|GITHUB_ACTIONS|NODE_ENV|NODE_OPTIONS|PORT|WEB_CONCURRENCY|FORCE_COLOR|NO_COLOR)$/;
export function hermeticEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !AMBIENT.test(k)));
}

/**
 * hermeticEnv() for npm, with the NODE_EXTRA_CA_CERTS the run started with (vitest.config.ts takes
 * it out of every other process's environment): npm may reach the registry through a proxy whose
 * CA that bundle holds.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const ca = process.env.TSPUMA_TEST_EXTRA_CA_CERTS;
  return { ...hermeticEnv(), ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}) };
}

/**
 * How to start a command as a user without privileges: setpriv to nobody (it execs, so the pid is
 * the command's) when the tests run as root, the command itself otherwise.
 */
export function unprivileged(command: string[]): string[] {
  return process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...command] : command;
}

export interface RunOptions {
  /** Run as a user without privileges (nobody when the tests run as root). */
  unprivileged?: boolean;
}

/**
 * A spawned server does no outgoing TLS in these tests (loopback only), and Node 20 parses a
 * NODE_EXTRA_CA_CERTS bundle at every process start: about 60 ms of CPU per process where it names
 * the system's (a primary and each worker: most of a plain boot's cost). npm, which may need it,
 * keeps it (hermeticEnv).
 */
const NO_EXTRA_CA = { NODE_EXTRA_CA_CERTS: undefined };

export function run(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT, opts: RunOptions = {}): Spawned {
  // --debug implies inspectors on 9229 and up: a test must not take fixed ports on a shared machine,
  // and one that attaches no DevTools client, reads no inspector line and takes no live stack or
  // autopsy need not pay for them (about 60 ms of CPU a process: test/README.md). A -d boot with no
  // --inspect of its own runs without; a case that uses the inspector asks for --inspect=127.0.0.1:0.
  const debug = args.some((a) => a === '-d' || a === '--debug') && !args.some((a) => a.startsWith('--inspect'));
  if (debug) args = ['--inspect=off', ...args];
  const [command, ...argv] = opts.unprivileged ? unprivileged([process.execPath, CLI, ...args]) : [process.execPath, CLI, ...args];
  const tag = `${process.pid}-${++spawnSeq}`;
  const proc = spawn(command!, argv, {
    cwd,
    env: { ...hermeticEnv(), ...NO_EXTRA_CA, ...env, [SPAWN_ENV]: tag } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  spawned.set(proc, { tag, startTicks: (proc.pid === undefined ? null : statFields(proc.pid))?.[19] ?? 0 });
  spawnLog.push(spawnKind(args));
  let out = '';
  let err = '';
  // JSON lines parsed once, as each arrives whole: waitFor polls lines() every 20 ms, and parsing
  // all of stdout at every poll cost a long run's output quadratic time (and a line cut between
  // two chunks threw).
  const parsed: Record<string, unknown>[] = [];
  let parsedTo = 0;
  let unparsed: unknown = null;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    out += c;
    for (let nl = out.indexOf('\n', parsedTo); nl !== -1; nl = out.indexOf('\n', parsedTo)) {
      if (out.startsWith('{', parsedTo)) {
        try {
          parsed.push(JSON.parse(out.slice(parsedTo, nl)) as Record<string, unknown>);
        } catch (e) {
          unparsed ??= e; // thrown by lines(), where the test asks for them
        }
      }
      parsedTo = nl + 1;
    }
  });
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  // 'exit' can come before the last of the process's stdout and stderr has been read (a clean-clone
  // CI run read '' as the stderr of a process that had exited 1 with its coded line): exited waits
  // for both pipes to close as well, at most STREAMS_AFTER_EXIT_MS (a worker or grandchild that
  // outlives the process keeps them open).
  const piped = [proc.stdout!, proc.stderr!].map((st) => new Promise<void>((r) => (st.closed ? r() : st.once('close', () => r()))));
  const exited = new Promise<number>((resolve) => {
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      const c = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      const bound = setTimeout(() => resolve(c), STREAMS_AFTER_EXIT_MS);
      void Promise.all(piped).then(() => {
        clearTimeout(bound);
        resolve(c);
      });
    });
  });
  const lines = () => {
    if (unparsed !== null) throw unparsed;
    return parsed.slice();
  };
  return { proc, stdout: () => out, stderr: () => err, lines, exited };
}

export interface Booted extends Spawned {
  urls: string[];
  url: string;
}

/** Runs the CLI and waits for "Use Ctrl-C to stop"; fails with the output if it exits first. */
export async function boot(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT, opts: RunOptions = {}): Promise<Booted> {
  const s = run(args, env, cwd, opts);
  let code: number | null = null;
  void s.exited.then((c) => (code = c));
  const ready = await waitFor(
    () => {
      if (code !== null) throw new Error(`tspuma exited ${code}${s.proc.signalCode ? ` (${s.proc.signalCode})` : ''} before booting:\n${s.stdout()}\n${s.stderr()}`);
      return s.lines().find((l) => l.msg === 'Use Ctrl-C to stop');
    },
    'the boot line',
    40_000, // -w 1 -d with a preloaded OpenTelemetry SDK passed 20 s at a load average of 20
  );
  const urls = ready.urls as string[];
  return { ...s, urls, url: urls[0]! };
}

/**
 * Waits for the first log line `pick` returns a value for, failing with the output if the
 * process exits first: how a test learns the ports a child bound (port 0, kernel's choice).
 */
export function fromLog<T>(s: Spawned, pick: (line: Record<string, unknown>) => T | undefined, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  return waitFor(
    () => {
      for (const line of s.lines()) {
        const v = pick(line);
        if (v !== undefined && v !== null) return v;
      }
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) throw new Error(`tspuma exited before logging ${what}:\n${s.stdout()}\n${s.stderr()}`);
      return undefined;
    },
    what,
    timeoutMs,
  );
}

/**
 * Waits for a cluster's "- All N workers booted" line. boot() returns at the boot line, which
 * comes with the FIRST booted worker: a test that needs every worker serving (requests until each
 * has answered, a worker picked by index) waits for this first.
 */
export function allBooted(s: Spawned, timeoutMs = 40_000): Promise<true> {
  return fromLog(s, (l) => (/^- All \d+ workers booted$/.test(String(l.msg)) ? true : undefined), 'every worker to boot', timeoutMs);
}

/** http://HOST:PORT of the control app, from its `* Control app on tcp://…` line. */
export async function controlUrl(s: Spawned): Promise<string> {
  const tcp = await fromLog(s, (l) => (typeof l.controlUrl === 'string' ? l.controlUrl : undefined), 'the control app line');
  return tcp.replace(/^tcp:/, 'http:');
}

/** http://HOST:PORT of inspector discovery, from its `* Inspector discovery: …/json/list` line. */
export async function discoveryUrl(s: Spawned): Promise<string> {
  const list = await fromLog(s, (l) => (typeof l.inspect === 'string' ? l.inspect : undefined), 'the inspector discovery line');
  return list.replace(/\/json\/list$/, '');
}

/** ws:// URL of a process's own inspector (worker i, or the primary / single process for null), from its `* Inspector of …` line. */
export function inspectorUrl(s: Spawned, worker: number | null, pid?: number): Promise<string> {
  return fromLog(
    s,
    (l) => (typeof l.inspector === 'string' && String(l.msg).startsWith('* Inspector of ') && (l.worker ?? null) === worker && (pid === undefined || l.pid === pid) ? l.inspector : undefined),
    `the inspector line of ${worker === null ? 'the primary' : `worker ${worker}`}`,
  );
}

/** Kills every child still running (afterEach). */
export function killAll(): Promise<void> {
  return killAllBut();
}

/**
 * With TSPUMA_TEST_CPU_LOG, the CPU ticks (utime+stime+cutime+cstime) of the processes below each
 * child killAll SIGKILLs, read just before the kill: a cluster's workers are reparented out of this
 * process's tree when their primary dies, so their CPU never reaches its cutime
 * (test/helpers/each-file.ts logs these as orphansMs).
 */
let orphanTicks = 0;
export function orphanCpuTicks(): number {
  return orphanTicks;
}

/** Each live process's parent, CPU ticks and start time, read from /proc at one moment. */
function processTable(): { kids: Map<number, number[]>; ticks: Map<number, number>; started: Map<number, number> } {
  const kids = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  const started = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name); // null: gone between the listing and the read
    if (f === null) continue;
    kids.set(f[1]!, [...(kids.get(f[1]!) ?? []), Number(name)]);
    ticks.set(Number(name), f[11]! + f[12]! + f[13]! + f[14]!);
    started.set(Number(name), f[19]!);
  }
  return { kids, ticks, started };
}

/** The processes (not zombies) that carry one of `tags` in their environment and started at or after `sinceTicks`, but `known`. */
function taggedStrays(started: Map<number, number>, tags: ReadonlySet<string>, sinceTicks: number, known: ReadonlySet<number>): number[] {
  const found: number[] = [];
  for (const [pid, at] of started) {
    if (at < sinceTicks || known.has(pid) || pid === process.pid) continue;
    try {
      const m = /(?:^|\0)SUITE_SPAWN=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'));
      if (m && tags.has(m[1]!) && !ended(pid)) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Every process below `roots` (children, their children, …). */
function descendantsOf(kids: Map<number, number[]>, roots: readonly number[]): number[] {
  const found: number[] = [];
  const below = roots.flatMap((r) => kids.get(r) ?? []);
  for (let pid = below.pop(); pid !== undefined; pid = below.pop()) {
    found.push(pid);
    below.push(...(kids.get(pid) ?? []));
  }
  return found;
}

/** Whether `pid` has ended (gone, or a zombie waiting for its reaper). */
function ended(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

/** Kills every child still running but `keep` (a server the file's cases share, killed in afterAll), and what its children left running. */
export async function killAllBut(...keep: (Spawned | undefined)[]): Promise<void> {
  const kept = new Set(keep.map((s) => s?.proc));
  await kill([...spawned.keys()].filter((c) => !kept.has(c)));
}

/**
 * Kills these children, those still running, as killAll does: how a case that runs beside others
 * (it.concurrent) ends its own processes, where killAll would end the others' too.
 */
export async function killThese(...these: (Spawned | undefined)[]): Promise<void> {
  const own = new Set(these.map((s) => s?.proc));
  await kill([...spawned.keys()].filter((c) => own.has(c)));
}

/**
 * SIGKILLs the children and every process below them, and every process their tag marks that no
 * longer is below them (the workers of a primary that exited or was SIGKILLed by the test), and
 * resolves once all have ended. A SIGKILLed primary's workers would otherwise outlive it by seconds
 * on a loaded host (they drain and exit on their own), still writing files into a folder the
 * file's afterAll removes (CI on ce8ef8a: primary-modules' rmdir failed ENOTEMPTY) and taking CPU
 * from the next file.
 */
async function kill(list: ChildProcess[]): Promise<void> {
  const records = list.flatMap((c) => spawned.get(c) ?? []);
  for (const c of list) spawned.delete(c);
  if (records.length === 0) return;
  const roots = list.flatMap((c) => (c.pid === undefined || c.exitCode !== null || c.signalCode !== null ? [] : [c.pid]));
  const table = processTable();
  const below = descendantsOf(table.kids, roots);
  const strays = taggedStrays(table.started, new Set(records.map((r) => r.tag)), Math.min(...records.map((r) => r.startTicks)), new Set([...roots, ...below]));
  // A process's cutime holds its reaped children: only the live ones below are added.
  if (process.env.TSPUMA_TEST_CPU_LOG) orphanTicks += [...below, ...strays].reduce((sum, pid) => sum + (table.ticks.get(pid) ?? 0), 0);
  await killAndWait(list, [...below, ...strays]);
}

/** SIGKILLs `list` and the processes `pids`, and resolves once every one has ended. */
async function killAndWait(list: ChildProcess[], pids: number[]): Promise<void> {
  for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ended since the read
    }
  }
  await Promise.all(list.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
  if (pids.length > 0) await waitFor(() => pids.every(ended), `the end of the SIGKILLed processes ${pids.join(', ')}`);
}

/**
 * For processes a test started itself (spawn, not run()): SIGKILLs those still running and every
 * process below them, and resolves once all have ended, so a folder they write into can go next
 * (clinic's children under `tspuma doctor`, npm's scripts, nginx's workers).
 */
export async function killTrees(list: readonly ChildProcess[]): Promise<void> {
  const live = list.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
  if (live.length === 0) return;
  await killAndWait(live, descendantsOf(processTable().kids, live.map((c) => c.pid!)));
}
