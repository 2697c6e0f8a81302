// `tspuma probe log|snapshot|count|list|rm`: sets, watches and removes probes on a running
// cluster through its control app (server/probe-routes.ts), found like `tspuma ctl` finds it.
import { TspumaError } from '../errors.js';
import { parseDuration, type ProbeKind, type ProbeRequest } from '../probe-spec.js';
import type { ProbeView } from '../cluster/probe-registry.js';
import { controlFlags, controlRequest, controlTarget, whoAmI, type ControlTarget } from './control-client.js';

/** The default of --timeout (s): the bound on each answer of the control app, and on a set's wait for every worker to arm it. */
export const DEFAULT_TIMEOUT_S = 30;
/**
 * The exit code of a `probe log` whose probe is set but still arming in a worker at --timeout (its
 * loop busy, or paused): the probe stays set (its id is printed), and a script can tell that a hit
 * right now may go unlogged in that worker (tests20.4).
 */
export const STILL_ARMING_EXIT = 3;

export const USAGE = `usage:
  tspuma probe log FILE:LINE 'TEMPLATE {expr}' [--when EXPR] [--hits N] [--for DURATION] [--rate N]
  tspuma probe snapshot FILE:LINE [--when EXPR] [--hits N] [--for DURATION] [--no-wait]
  tspuma probe count FILE:LINE [--when EXPR] [--for DURATION]
  tspuma probe list [--json]
  tspuma probe rm ID | --all
  each takes [--timeout SECONDS] (default ${DEFAULT_TIMEOUT_S}): how long the server may take to answer, and a set to be armed in every worker
  and where the server is: (--control-url URL --control-token TOKEN | -S STATEFILE)
  exits 0 when done, 1 when not, ${STILL_ARMING_EXIT} when a logpoint was set but a worker had not armed it within --timeout (it stays set)`;

function usage(problem: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}\n${USAGE}\n`, source: 'command line' });
}

export interface ProbeOutput {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Polling interval (ms) for snapshot and count, and while workers arm a probe (200 ms). */
  everyMs?: number;
}

const STD: ProbeOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** What became of a probe in one worker once it ended: it had armed it, or was still arming it. */
function endedIn(w: ProbeView['workers'][string]): string {
  if (w.state !== 'removed') return w.state;
  if (w.before === 'armed') return 'had armed it';
  return `had not armed it yet${w.before === 'pending' ? ' (its file was not loaded)' : ''}`;
}

/**
 * Each worker's part: "worker 0 armed; worker 1 pending (…)". A probe that ended before the answer
 * (it expired while the workers armed it: their loops busy, a short --for) says so and why, and
 * what each worker had done by then, not a bare "removed" beside "set" (review6.1).
 */
export function workersText(view: ProbeView): string {
  const parts = Object.entries(view.workers).map(([i, w]) => `worker ${i} ${view.active ? (w.state === 'sent' ? 'still arming it (no answer yet)' : w.state) : endedIn(w)}${w.state === 'pending' ? ' (its file is not loaded yet: armed when it loads)' : ''}${w.note ? ` (${w.note})` : ''}${w.error ? `: ${w.error.message}` : ''}`);
  const each = parts.length > 0 ? parts.join('; ') : 'no worker is running: each one that boots gets it';
  if (view.active) return each;
  const unarmed = Object.values(view.workers).some((w) => w.state === 'removed' && w.before !== 'armed');
  const hint = unarmed && view.ended?.startsWith('expired') ? ' (a longer --for gives busy workers time to arm it)' : '';
  return `it ended before this answer, ${view.ended ?? 'removed'}${hint}: ${each}`;
}

/** Where --timeout's bound came from, as the errors that quote it say (`tspuma ctl` says the same). */
export function timeoutFrom(given: boolean): string {
  return given ? 'from --timeout; a larger one waits longer' : 'the default; --timeout SECONDS waits longer';
}

function fail(command: string, answer: { status: number; body: { error?: string; code?: string | null } }, io: ProbeOutput): number {
  io.err(`tspuma probe ${command}: ${answer.body.code ? `${answer.body.code}: ` : ''}${answer.body.error ?? `status ${answer.status}`}\n`);
  return 1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function probe(args: string[], io: ProbeOutput = STD): Promise<number> {
  const { flags, rest } = controlFlags(args, usage);
  const command = rest[0];
  const opts: { when?: string; hits?: number; for?: number; rate?: number; wait: boolean; json: boolean; all: boolean; timeout: number; timeoutGiven: boolean } = { wait: true, json: false, all: false, timeout: DEFAULT_TIMEOUT_S, timeoutGiven: false };
  const positional: string[] = [];
  for (let i = 1; i < rest.length; i++) {
    const a = rest[i]!;
    const value = () => rest[++i] ?? usage(`${a} needs a value`);
    const int = (v: string) => (/^\d+$/.test(v) ? Number(v) : usage(`${a} needs a whole number; got ${v}`));
    if (a === '--when') opts.when = value();
    else if (a === '--hits') opts.hits = int(value());
    else if (a === '--for') opts.for = parseDuration(value(), `--for`);
    else if (a === '--rate') opts.rate = int(value());
    else if (a === '--no-wait') opts.wait = false;
    else if (a === '--json') opts.json = true;
    else if (a === '--all') opts.all = true;
    else if (a === '--timeout') {
      const v = value();
      opts.timeout = Number(v);
      opts.timeoutGiven = true;
      if (!(opts.timeout > 0) || !Number.isFinite(opts.timeout)) usage(`--timeout needs a number of seconds above 0; got ${JSON.stringify(v)}`);
    }
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (!command) usage('a command is needed');
  const started = performance.now();
  const target = { ...controlTarget(flags, usage), by: whoAmI(`probe ${command}`), timeout: { ms: Math.round(opts.timeout * 1000), from: timeoutFrom(opts.timeoutGiven) } };
  const armBy = started + opts.timeout * 1000;
  switch (command) {
    case 'log':
      if (positional.length !== 2) usage('probe log takes FILE:LINE and a template');
      return set(target, 'log', positional[0]!, positional[1]!, { ...opts, armBy }, io);
    case 'snapshot':
    case 'count':
      if (positional.length !== 1) usage(`probe ${command} takes FILE:LINE`);
      return set(target, command, positional[0]!, null, { ...opts, armBy }, io);
    case 'list':
      return list(target, opts.json, io);
    case 'rm':
      if (opts.all ? positional.length !== 0 : positional.length !== 1 || !/^\d+$/.test(positional[0]!)) usage('probe rm takes one probe ID, or --all');
      return rm(target, opts.all ? null : Number(positional[0]), io);
    default:
      return usage(`unknown probe command ${command}`);
  }
}

/** What set and setAndFollow take of the options: armBy is when the wait for every worker to arm ends (performance.now() ms). */
type SetOptions = { when?: string; hits?: number; for?: number; rate?: number; wait: boolean; timeout: number; timeoutGiven: boolean; armBy: number };

async function set(target: ControlTarget, kind: ProbeKind, location: string, template: string | null, opts: SetOptions, io: ProbeOutput): Promise<number> {
  const body: ProbeRequest = { kind, location, cwd: process.cwd(), template, when: opts.when ?? null, hits: opts.hits ?? null, for: opts.for ?? null, rate: opts.rate ?? null, by: whoAmI(`probe ${kind}`) };
  // A counter is this command's own: the signals that end the command are caught before it is set,
  // so one that comes as soon as the set line is out (a supervisor, timeout) still removes it.
  const stop = kind === 'count' ? stopSignals() : null;
  try {
    return await setAndFollow(target, kind, body, opts, io, stop);
  } finally {
    stop?.dispose();
  }
}

async function setAndFollow(target: ControlTarget, kind: ProbeKind, body: ProbeRequest, opts: SetOptions, io: ProbeOutput, stop: StopSignals | null): Promise<number> {
  const answer = await controlRequest<ProbeView>(target, 'POST', '/probes', body);
  if (answer.status !== 201) return fail(kind, answer, io);
  let view = answer.body;
  const what = kind === 'log' ? `logpoint at ${view.location}` : kind === 'count' ? `hit counter at ${view.location}` : `snapshot probe at ${view.location}`;
  io.err(`tspuma: probe ${view.id} set: ${what}${view.when ? ` when ${view.when}` : ''}, until ${view.expiresAt}; ${workersText(view)}\n`);
  // The server answers a set once every worker has, or after its own wait (ARM_WAIT_MS): a worker
  // still arming then (its loop busy, paused) would not stop at a hit now. Waited for, up to --timeout.
  const arming = await armed(target, view, opts, io, stop);
  if (arming === null) return 1;
  view = arming.view;
  if (kind === 'log') {
    // Ended while it was awaited (its --for over, a worker's refusal): said above.
    if (!view.active) return 1;
    io.out(`${view.id}\n`);
    if (arming.still.length > 0) {
      io.err(`tspuma: probe ${view.id} stays set; a hit in ${arming.still.length === 1 ? 'that worker' : 'those workers'} before ${arming.still.length === 1 ? 'it arms' : 'they arm'} it is not logged (exit ${STILL_ARMING_EXIT}); remove it with tspuma probe rm ${view.id}\n`);
      return STILL_ARMING_EXIT;
    }
    io.err(`tspuma: each hit is one line in the server's log ("probe ${view.id} ${view.location}: …"); remove it with tspuma probe rm ${view.id}\n`);
    return 0;
  }
  if (kind === 'snapshot') return opts.wait ? snapshots(target, view, io) : (io.out(`${view.id}\n`), 0);
  return count(target, view, io, stop!);
}

/** The workers still arming a probe (no answer to its set yet). */
const stillArming = (view: ProbeView) => (view.active ? Object.entries(view.workers ?? {}).filter(([, w]) => w.state === 'sent').map(([i]) => i) : []);

/**
 * Polls the probe until no worker is still arming it (each armed it, has it pending, refused it)
 * or opts.armBy; says what changed, or which workers are still arming it at the deadline (`still`).
 * Null: the probe could not be read (said).
 */
export async function armed(target: ControlTarget, view: ProbeView, opts: Pick<SetOptions, 'timeout' | 'timeoutGiven' | 'armBy'>, io: ProbeOutput, stop: { readonly stopping: boolean } | null): Promise<{ view: ProbeView; still: string[] } | null> {
  let still = stillArming(view);
  if (still.length === 0) return { view, still };
  // Not 'waiting for': the line snapshot prints once armed everywhere, which scripts and tests wait for.
  io.err(`tspuma: the answer of worker${still.length === 1 ? '' : 's'} ${still.join(', ')} to probe ${view.id} is awaited, up to ${opts.timeout} s in all (${timeoutFrom(opts.timeoutGiven)})...\n`);
  while (still.length > 0 && performance.now() < opts.armBy && !stop?.stopping) {
    await sleep(Math.min(io.everyMs ?? 200, Math.max(0, opts.armBy - performance.now())));
    const answer = await controlRequest<ProbeView>(target, 'GET', `/probes/${view.id}`);
    if (answer.status !== 200) {
      fail(view.kind, answer, io);
      return null;
    }
    view = answer.body;
    still = stillArming(view);
  }
  if (still.length === 0) io.err(`tspuma: probe ${view.id} ${view.active ? 'answered in every worker' : 'ended'}: ${workersText(view)}\n`);
  else io.err(`tspuma: probe ${view.id} is still arming in worker${still.length === 1 ? '' : 's'} ${still.join(', ')} after ${opts.timeout} s (${timeoutFrom(opts.timeoutGiven)}): no answer from ${still.length === 1 ? 'it' : 'them'} yet (an event loop busy, or paused in a debugger); ${still.length === 1 ? 'it arms' : 'they arm'} it on reading the set\n`);
  return { view, still };
}

/** Waits for the probe's snapshots (its --hits, default 1) or its end, printing each path. */
async function snapshots(target: ControlTarget, view: ProbeView, io: ProbeOutput): Promise<number> {
  io.err(`tspuma: waiting for ${view.hits ?? 'every'} hit(s) at ${view.location} (Ctrl-C leaves the probe set; tspuma probe rm ${view.id})...\n`);
  let printed = 0;
  for (;;) {
    const answer = await controlRequest<ProbeView>(target, 'GET', `/probes/${view.id}`);
    if (answer.status !== 200) return fail('snapshot', answer, io);
    const now = answer.body;
    for (const s of now.snapshots.slice(printed)) {
      if (s.path !== null) io.out(`${s.path}\n`);
      else io.err(`tspuma: a snapshot was taken in worker ${s.worker} but not written: ${s.problem ?? 'no file'}; its text is on the server's stderr\n`);
    }
    printed = now.snapshots.length;
    if (!now.active) {
      if (printed === 0) io.err(`tspuma: probe ${view.id} ${now.ended ?? 'ended'} with no snapshot\n`);
      return printed > 0 ? 0 : 1;
    }
    if (view.hits !== null && printed >= view.hits) return 0;
    const stopped = suspendedEverywhere(now);
    if (stopped) {
      io.err(`tspuma: probe ${view.id} is suspended in every worker, so no more snapshots will come (${printed} of ${view.hits ?? 'every'} taken): ${stopped}; it stays listed (suspended) until it expires or tspuma probe rm ${view.id}; set it again to resume\n`);
      return printed > 0 ? 0 : 1;
    }
    await sleep(io.everyMs ?? 200);
  }
}

/**
 * Why no worker will hit the probe any more (every worker that has it suspended it: the pause
 * budget, its line changed by a deploy), with the first worker's reason; else null. A worker
 * started later arms it again, so the command that waits is told, not the probe removed.
 */
export function suspendedEverywhere(view: ProbeView): string | null {
  const workers = Object.entries(view.workers).filter(([, w]) => w.state !== 'removed' && w.state !== 'error');
  if (!view.active || workers.length === 0 || !workers.every(([, w]) => w.state === 'suspended')) return null;
  const [i, first] = workers[0]!;
  return `worker ${i}: ${first.suspended?.message ?? 'suspended'}${workers.length > 1 ? ` (and the same in ${workers.length - 1} more)` : ''}`;
}

/** Hits per second per worker, one line a second, until the probe ends or Ctrl-C (which removes it). */
interface StopSignals {
  readonly stopping: boolean;
  dispose(): void;
}

/**
 * Ctrl-C, a supervisor's or timeout's SIGTERM and a closed terminal's SIGHUP, caught: the counter
 * is then removed, not left armed until it expires (T2).
 */
function stopSignals(): StopSignals {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const state = {
    stopping: false,
    dispose: () => {
      for (const signal of signals) process.removeListener(signal, onSignal);
    },
  };
  const onSignal = () => {
    state.stopping = true;
  };
  for (const signal of signals) process.once(signal, onSignal);
  return state;
}

async function count(target: ControlTarget, view: ProbeView, io: ProbeOutput, stop: StopSignals): Promise<number> {
  let before = view;
  let since = performance.now();
  while (!stop.stopping) {
    await sleep(1000);
    const answer = await controlRequest<ProbeView>(target, 'GET', `/probes/${view.id}`);
    if (answer.status !== 200) return fail('count', answer, io);
    const now = answer.body;
    const at = performance.now();
    io.out(`${new Date().toISOString().slice(11, 19)}  ${countLine(before, now, at - since)}\n`);
    before = now;
    since = at;
    if (!now.active) {
      io.err(`tspuma: probe ${view.id} ${now.ended ?? 'ended'}\n`);
      return 0;
    }
    const stopped = suspendedEverywhere(now);
    if (stopped) {
      io.err(`tspuma: probe ${view.id} is suspended in every worker, so it counts no more hits: ${stopped}; it stays listed (suspended) until it expires or tspuma probe rm ${view.id}; set it again to resume\n`);
      return 1;
    }
  }
  await controlRequest(target, 'DELETE', `/probes/${view.id}`);
  io.err(`tspuma: probe ${view.id} removed\n`);
  return 0;
}

/**
 * One line of `probe count`: each worker's hits between two answers (the server collects the
 * workers' counts before it answers) over the time between them, so a second with no hit shows
 * 0/s (it showed the last report's rate again: M5.4). A worker whose process changed starts over.
 */
export function countLine(before: ProbeView, now: ProbeView, ms: number): string {
  const seconds = Math.max(ms, 1) / 1000;
  let total = 0;
  const per = Object.entries(now.workers).map(([i, w]) => {
    const was = before.workers[i];
    const hits = w.hits - (was && was.pid === w.pid ? was.hits : 0);
    total += hits;
    return `worker ${i}: ${Math.round(hits / seconds)}/s`;
  });
  return `${per.join('  ')}  total ${Math.round(total / seconds)}/s  (${now.hitsSeen} hit(s) since set)`;
}

/**
 * Where a probe is: its location, or where its workers armed it when a deploy moved its line
 * ("src/repo.ts:8 (set at :6)"; "src/repo.ts:6 (worker 1 at :8)" while the workers differ).
 */
function whereNow(p: ProbeView): string {
  const line = (location: string) => /:\d+(?::\d+)?$/.exec(location)?.[0].slice(1) ?? location;
  const moved = Object.entries(p.workers).filter(([, w]) => w.state === 'armed' && w.location && w.location !== p.location);
  const armed = Object.values(p.workers).filter((w) => w.state === 'armed');
  if (moved.length === 0) return p.location;
  const places = new Set(moved.map(([, w]) => w.location!));
  if (moved.length === armed.length && places.size === 1) return `${[...places][0]} (set at :${line(p.location)})`;
  return `${p.location} (${moved.map(([i, w]) => `worker ${i} at :${line(w.location!)}`).join(', ')})`;
}

/** The table `probe list` prints, header first. */
export function listRows(probes: ProbeView[]): string[][] {
  const rows = [['ID', 'KIND', 'LOCATION', 'STATE', 'HITS', 'UNTIL', 'WORKERS', 'SET BY']];
  for (const p of probes) {
    const workers = Object.entries(p.workers).map(([i, w]) => `${i}:${w.state}`).join(',') || '-';
    const state = !p.active ? short(p.ended ?? 'ended') : p.suspended ? `suspended ${p.suspended}` : 'active';
    rows.push([String(p.id), p.kind, `${whereNow(p)}${p.template ? ` ${JSON.stringify(p.template)}` : ''}${p.when ? ` when ${p.when}` : ''}`, state, `${p.hitsSeen}${p.hits !== null ? `/${p.hits}` : ''}`, p.expiresAt.slice(11, 19), workers, p.setBy]);
  }
  return rows;
}

/** A reason cut for a table cell (tspuma probe list --json has it whole). */
const short = (text: string) => (text.length > 48 ? `${text.slice(0, 47)}…` : text);

async function list(target: ControlTarget, asJson: boolean, io: ProbeOutput): Promise<number> {
  const answer = await controlRequest<{ probes: ProbeView[] }>(target, 'GET', '/probes');
  if (answer.status !== 200) return fail('list', answer, io);
  const probes = answer.body.probes;
  if (asJson) {
    io.out(`${JSON.stringify(probes, null, 2)}\n`);
    return 0;
  }
  const rows = listRows(probes);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) io.out(`${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}\n`);
  if (probes.length === 0) io.err('tspuma: no probe is set\n');
  return 0;
}

async function rm(target: ControlTarget, id: number | null, io: ProbeOutput): Promise<number> {
  const answer = await controlRequest<ProbeView | { removed: ProbeView[] }>(target, 'DELETE', id === null ? '/probes?all=1' : `/probes/${id}`);
  if (answer.status !== 200) return fail('rm', answer, io);
  const removed = 'removed' in answer.body ? answer.body.removed : [answer.body as ProbeView];
  io.out(removed.length === 0 ? 'no probe was set\n' : removed.map((p) => `removed probe ${p.id} (${p.kind} at ${p.location}; ${p.hitsSeen} hit(s))\n`).join(''));
  return 0;
}
