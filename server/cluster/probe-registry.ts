// The primary's probes: the one list of probes set on the cluster (validated, capped, each with
// its expiry), handed to every worker that says hello (at boot, respawn, TTIN, phased and hot
// restart alike) until removed; each worker's answer (armed, pending, no code there), hits per
// second, snapshots and suspensions; and the log line for every set, removal, expiry and hit
// budget reached, naming who asked and from where. The primary calls it; it calls the primary
// only through `workers` (what is running) and each worker's send.
import { fileLines, lineContext, probeFileText } from '../probe-anchor.js';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import { TspumaError } from '../errors.js';
import { realClock, unref, type Clock, type TimerHandle } from './clock.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';
import { PROBE_BOUNDS, PROBE_KINDS, SCRIPT_FILE, checkCondition, locationText, parseLocation, parseTemplate, shownProbeText, type ProbeKind, type ProbeRequest, type ProbeSpec } from '../probe-spec.js';
import { Redactor } from '../../diagnostics/redact.js';

/** A running worker, as the registry sees it. */
export interface ProbeWorker {
  readonly index: number;
  readonly pid: number;
  send(message: PrimaryMessage): void;
}

export interface ProbeLimits {
  max: number;
  expirySeconds: number;
  logRate: number;
  snapshotRate: number;
}

/** One worker's side of a probe. */
export interface ProbeWorkerView {
  pid: number;
  state: 'sent' | 'armed' | 'pending' | 'error' | 'suspended' | 'removed';
  /** Once removed: the state it was in when the probe ended (armed, or still arming: sent, pending). */
  before?: 'sent' | 'armed' | 'pending';
  at?: string;
  /** FILE:LINE where this worker armed it: another line than the probe's when a deploy moved the line. */
  location?: string;
  /** Why this worker suspended it (the pause budget, its line changed by a deploy). */
  suspended?: { code: string; message: string };
  /** What the worker said about where it armed it (a one-line route's handler, a moved line). */
  note?: string;
  error?: { code: string; message: string };
  /** Hits in all (every time `when` held) and those that paused it (logged, snapshotted). */
  hits: number;
  paused: number;
  /** Hits reported within the last second. */
  perSecond: number;
  /** When the last report came (epoch ms; 0: none yet). */
  reportedAt: number;
}

/**
 * A probe as `list`, GET /probes/ID and the CLI see it: its spec (less what only workers need:
 * replay's request id and attached workers; the expiry as an ISO time) and what became of it.
 */
export type ProbeView = Omit<ProbeSpec, 'expiresAt' | 'requestId' | 'attached'> & {
  location: string;
  setAt: string;
  expiresAt: string;
  setBy: string;
  active: boolean;
  /** Why it ended: removed (by whom), expired, hits reached, side effect, no code. */
  ended: string | null;
  /** Active but suspended: "in all workers (source changed)", "in worker 1 (pause budget)"; else null. */
  suspended: string | null;
  hitsSeen: number;
  pausedSeen: number;
  workers: Record<string, ProbeWorkerView>;
  /** `path` null: taken but not written (`problem` says why; its text is on the worker's stderr). */
  snapshots: { worker: number; path: string | null; problem?: string; requestId: string | null; time: string }[];
  pausedIn: { worker: number; requestId: string | null; time: string }[];
};

interface Entry {
  spec: ProbeSpec;
  view: ProbeView;
  expiry: TimerHandle | null;
  /** Waiters for every worker's first answer. */
  answered: Set<() => void>;
  /** Each worker's reports of the last second (time, hits), for perSecond. */
  recent: Map<string, [number, number][]>;
  /** Its --hits reached: every worker's counts are being collected before it ends (P9). */
  reaching?: boolean;
}

/** A collect() under way: the workers (by pid) yet to answer its probe-flush. */
interface Collecting {
  pending: Set<number>;
  done: () => void;
}

/** Ended probes kept for `list` and GET /probes/ID (snapshot paths, why it ended). */
const KEEP_ENDED = 50;
/** How long `set` waits for every worker's answer (armed, pending or no code): a worker starting its first probe on a loaded machine takes seconds. */
export const ARM_WAIT_MS = 10_000;
/** How long list, get and rm wait for the workers' current counts (a worker paused in a debugger does not answer). */
export const COLLECT_WAIT_MS = 1000;

const source = 'the probe request';

/** A coded error a worker reported (its code and message, as it made them). */
export class WorkerProbeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ProbeRegistry {
  private readonly active = new Map<number, Entry>();
  private readonly ended: Entry[] = [];
  /** Workers (by pid) that said hello: they get every probe. */
  private readonly listening = new Map<number, ProbeWorker>();
  private nextId = 1;
  private flushSeq = 0;
  private readonly collecting = new Map<number, Collecting>();

  constructor(
    private readonly log: Logger,
    private readonly limits: ProbeLimits,
    private readonly clock: Clock = realClock,
    /** What a probe's texts are shown through (the `redact` option's names too, when given). */
    private readonly redactor: Redactor = new Redactor(),
  ) {}

  /** Validates a request into a spec (coded errors naming the value), without setting it; it expires `for` seconds after `now`. */
  specFor(req: ProbeRequest, now: number = this.clock.now()): ProbeSpec {
    if (!(PROBE_KINDS as readonly string[]).includes(req.kind)) throw new TspumaError('TSPUMA_ERR_PROBE_INVALID', { what: 'kind', value: String(req.kind), reason: `expected one of ${PROBE_KINDS.join(', ')}`, source });
    const { file: given, line, column } = parseLocation(String(req.location ?? ''), source);
    const file = isAbsolute(given) ? given : resolve(req.cwd ?? process.cwd(), given);
    // Checked before the file is read: a probe's line is shown back (a .env's would hold its secrets).
    if (!SCRIPT_FILE.test(file)) throw new TspumaError('TSPUMA_ERR_PROBE_FILE', { location: `${given}:${line}`, source, problem: `${file} is not a script: a probe goes on a line of code the app loads (.ts, .mts, .cts, .tsx, .js, .mjs, .cjs or .jsx)` });
    if (!existsSync(file) || !statSync(file).isFile()) throw new TspumaError('TSPUMA_ERR_PROBE_FILE', { location: `${given}:${line}`, source, problem: `${file} is not a file on the server's machine` });
    const text = probeFileText(file);
    const all = text.split('\n');
    const lines = all.length - (text.endsWith('\n') ? 1 : 0);
    if (line > lines) throw new TspumaError('TSPUMA_ERR_PROBE_FILE', { location: `${given}:${line}`, source, problem: `${file} has ${lines} lines` });
    const template = req.kind === 'log' ? String(req.template ?? '') : null;
    if (req.kind === 'log') {
      if (!template) throw new TspumaError('TSPUMA_ERR_PROBE_INVALID', { what: 'template', value: '', reason: 'a logpoint needs the line it writes, e.g. "charged {order.id} total={total}"', source });
      parseTemplate(template, source);
    }
    const when = req.when ? String(req.when) : null;
    if (when) checkCondition(when, source);
    const int = (what: string, v: unknown, max: number) => {
      if (v === null || v === undefined) return null;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new TspumaError('TSPUMA_ERR_PROBE_INVALID', { what, value: String(v), reason: `expected an integer from 1 to ${max}`, source });
      return v;
    };
    const hits = int('hits', req.hits, PROBE_BOUNDS.maxHits) ?? (req.kind === 'snapshot' || req.kind === 'break' ? 1 : null);
    const maxRate = req.kind === 'snapshot' || req.kind === 'break' ? PROBE_BOUNDS.maxSnapshotRate : PROBE_BOUNDS.maxLogRate;
    const rate = int('rate', req.rate, maxRate) ?? (req.kind === 'snapshot' || req.kind === 'break' ? this.limits.snapshotRate : this.limits.logRate);
    const seconds = req.for ?? this.limits.expirySeconds;
    if (typeof seconds !== 'number' || !(seconds > 0) || seconds > PROBE_BOUNDS.maxSeconds) throw new TspumaError('TSPUMA_ERR_PROBE_INVALID', { what: 'for', value: String(seconds), reason: 'expected seconds above 0 and at most 86400', source });
    const attached = Array.isArray(req.attached) ? req.attached.filter((n) => Number.isInteger(n)) : [];
    const requestId = typeof req.requestId === 'string' && req.requestId !== '' ? req.requestId : null;
    return { id: 0, kind: req.kind, file, line, column, lineText: all[line - 1]!.replace(/\r$/, ''), context: lineContext(fileLines(text), line), template, when, hits, rate, expiresAt: now + seconds * 1000, requestId, attached };
  }

  /**
   * Sets a probe on every listening worker and waits (up to ARM_WAIT_MS) for their answers: a
   * line with no code in any worker removes it again and rejects with that worker's error.
   */
  async set(req: ProbeRequest, by: string): Promise<ProbeView> {
    if (this.active.size >= this.limits.max) throw new TspumaError('TSPUMA_ERR_PROBE_LIMIT', { count: this.active.size });
    // One reading for its start and its end: a primary starved between two (at load) made the
    // expiry line say 'expired after 1.9 s' for `--for 2s` (cluster3.5).
    const setAt = this.clock.now();
    const spec = { ...this.specFor(req, setAt), id: this.nextId++ };
    const location = locationText(spec.file, spec.line, spec.column);
    // Its texts as its lines, list and answers show them (S10, S14); the workers get them as written.
    const show = (text: string | null) => (text === null ? null : shownProbeText(text, this.redactor));
    // Its context lines are the workers' only (they may hold anything the file holds).
    const { expiresAt, requestId: _requestId, attached: _attached, context: _context, ...rest } = spec;
    const shown = { ...rest, lineText: show(spec.lineText), template: show(spec.template), when: show(spec.when) };
    const view: ProbeView = {
      ...shown, location, setAt: new Date(setAt).toISOString(), expiresAt: new Date(expiresAt).toISOString(), setBy: by, active: true, ended: null, suspended: null,
      hitsSeen: 0, pausedSeen: 0, workers: {}, snapshots: [], pausedIn: [],
    };
    const entry: Entry = { spec, view, expiry: null, answered: new Set(), recent: new Map() };
    this.active.set(spec.id, entry);
    entry.expiry = unref(this.clock.setTimeout(() => this.end(spec.id, `expired after ${describeSeconds((spec.expiresAt - setAt) / 1000)}`, 'info'), spec.expiresAt - this.clock.now()));
    this.log.info(
      { probe: spec.id, kind: spec.kind, location, when: shown.when, hits: spec.hits, expiresAt: view.expiresAt, by },
      `Probe ${spec.id} set by ${by}: ${describe({ ...spec, ...shown }, location)}, until ${view.expiresAt}`,
    );
    for (const w of this.listening.values()) this.sendTo(entry, w);
    await this.allAnswered(entry, ARM_WAIT_MS);
    const failed = Object.entries(view.workers).find(([, w]) => w.state === 'error');
    if (failed && view.active) {
      const [, w] = failed;
      this.end(spec.id, `refused: ${w.error!.message}`, 'warn');
      throw new WorkerProbeError(w.error!.code, w.error!.message);
    }
    if (!view.active) {
      // Ended while arming (a side effect, a worker's error): say why.
      const err = Object.values(view.workers).find((w) => w.error)?.error;
      if (err) throw new WorkerProbeError(err.code, err.message);
    }
    return view;
  }

  private sendTo(entry: Entry, w: ProbeWorker): void {
    entry.view.workers[String(w.index)] = { pid: w.pid, state: 'sent', hits: 0, paused: 0, perSecond: 0, reportedAt: 0 };
    w.send({ tspuma: 1, type: 'probe-set', probe: entry.spec });
  }

  private allAnswered(entry: Entry, ms: number): Promise<void> {
    const done = () => !entry.view.active || Object.values(entry.view.workers).every((w) => w.state !== 'sent');
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (done()) finish();
      };
      const finish = () => {
        this.clock.clearTimeout(timer);
        entry.answered.delete(check);
        resolve();
      };
      const timer = this.clock.setTimeout(finish, ms);
      entry.answered.add(check);
    });
  }

  /**
   * Asks every listening worker for the hits it counted since its last report and waits (at most
   * COLLECT_WAIT_MS) for their answers, so that list, get and rm answer with the counts of now:
   * workers report once a second, and an rm right after a test request said 0 hits (M5.2).
   */
  collect(ms = COLLECT_WAIT_MS): Promise<void> {
    if (this.active.size === 0 || this.listening.size === 0) return Promise.resolve();
    const seq = ++this.flushSeq;
    return new Promise((resolve) => {
      const done = () => {
        this.clock.clearTimeout(timer);
        this.collecting.delete(seq);
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      this.collecting.set(seq, { pending: new Set(this.listening.keys()), done });
      for (const w of [...this.listening.values()]) w.send({ tspuma: 1, type: 'probe-flush', seq });
    });
  }

  private answeredFlush(pid: number, seq: number | undefined): void {
    const c = seq === undefined ? undefined : this.collecting.get(seq);
    if (!c) return;
    c.pending.delete(pid);
    if (c.pending.size === 0) c.done();
  }

  list(): ProbeView[] {
    return [...[...this.active.values()].map((e) => this.fresh(e)), ...this.ended.map((e) => this.fresh(e))].sort((a, b) => a.id - b.id);
  }

  get(id: number): ProbeView {
    const e = this.active.get(id) ?? this.ended.find((x) => x.spec.id === id);
    if (!e) throw this.notFound(id);
    return this.fresh(e);
  }

  /** The view with each worker's hits of the last second, and whether it is suspended where it runs. */
  private fresh(entry: Entry): ProbeView {
    const view = entry.view;
    const now = this.clock.now();
    const workers: ProbeView['workers'] = {};
    for (const [i, w] of Object.entries(view.workers)) workers[i] = { ...w, perSecond: (entry.recent.get(i) ?? []).reduce((n, [t, hits]) => (now - t < 1000 ? n + hits : n), 0) };
    return { ...view, workers, suspended: view.active ? suspendedIn(view.workers) : null };
  }

  private notFound(id: number): TspumaError {
    return new TspumaError('TSPUMA_ERR_PROBE_NOT_FOUND', { id: String(id), ids: [...this.active.keys()].join(', ') || 'none' });
  }

  /** `tspuma probe rm ID`: removed from every worker, logged with who asked. */
  remove(id: number, by: string): ProbeView {
    if (!this.active.has(id)) throw this.notFound(id);
    return this.end(id, `removed by ${by}`, 'info')!;
  }

  removeAll(by: string): ProbeView[] {
    return [...this.active.keys()].map((id) => this.end(id, `removed by ${by} (rm --all)`, 'info')!);
  }

  /** Ends an active probe: every worker disarms it; the line says why. */
  private end(id: number, why: string, level: 'info' | 'warn'): ProbeView | null {
    const entry = this.active.get(id);
    if (!entry) return null;
    this.active.delete(id);
    if (entry.expiry !== null) this.clock.clearTimeout(entry.expiry);
    why = why.replace(/\.$/, '');
    entry.view.active = false;
    entry.view.ended = why;
    for (const w of this.listening.values()) w.send({ tspuma: 1, type: 'probe-rm', id });
    for (const w of Object.values(entry.view.workers)) {
      if (w.state === 'error' || w.state === 'suspended' || w.state === 'removed') continue;
      w.before = w.state;
      w.state = 'removed';
    }
    this.log[level]({ probe: id, location: entry.view.location, hits: entry.view.hitsSeen, paused: entry.view.pausedSeen }, `Probe ${id} (${entry.spec.kind} at ${entry.view.location}) ${why}; ${entry.view.hitsSeen} hit(s), ${entry.view.pausedSeen} ${entry.spec.kind === 'log' ? 'logged' : entry.spec.kind === 'count' ? 'paused' : 'taken'}`);
    this.ended.push(entry);
    if (this.ended.length > KEEP_ENDED) this.ended.shift();
    for (const wake of [...entry.answered]) wake();
    return entry.view;
  }

  /** A worker is listening (booted, respawned, restarted): it gets every active probe. */
  hello(w: ProbeWorker): void {
    this.listening.set(w.pid, w);
    for (const entry of this.active.values()) this.sendTo(entry, w);
  }

  /** A worker exited: its part of each probe is history. */
  gone(pid: number): void {
    this.listening.delete(pid);
    for (const seq of [...this.collecting.keys()]) this.answeredFlush(pid, seq);
  }

  get size(): number {
    return this.active.size;
  }

  /** Every probe-* message from a worker. Returns false for other messages. */
  onMessage(w: ProbeWorker, m: WorkerMessage): boolean {
    switch (m.type) {
      case 'probe-hello':
        this.hello(w);
        return true;
      case 'probe-state': {
        const entry = this.active.get(m.id);
        const mine = entry?.view.workers[String(w.index)];
        if (!entry || !mine || mine.pid !== w.pid) return true;
        if (m.state === 'armed') {
          mine.state = 'armed';
          mine.at = m.at;
          if (m.note) mine.note = m.note;
          if (m.location) mine.location = m.location;
        } else if (m.state === 'pending') mine.state = 'pending';
        else {
          mine.state = 'error';
          mine.error = { code: m.code, message: m.message };
          // Once set, a worker whose newly loaded copy of the file has no code there ends it.
          if (!entry.answered.size) this.end(m.id, `removed: ${reason(m.message)}`, 'warn');
        }
        for (const wake of [...entry.answered]) wake();
        return true;
      }
      case 'probe-hits': {
        for (const [id, hits, paused] of m.hits) {
          const entry = this.active.get(id);
          const mine = entry?.view.workers[String(w.index)];
          if (!entry || !mine) continue;
          mine.hits += hits;
          mine.paused += paused;
          mine.reportedAt = this.clock.now();
          const recent = (entry.recent.get(String(w.index)) ?? []).filter(([t]) => mine.reportedAt - t < 1000);
          recent.push([mine.reportedAt, hits]);
          entry.recent.set(String(w.index), recent);
          entry.view.hitsSeen += hits;
          entry.view.pausedSeen += paused;
          const spec = entry.spec;
          // Each worker stops at the budget on its own, so a burst on several may log more: their
          // counts are collected first (at most COLLECT_WAIT_MS), so the removal line says all of them.
          if (spec.hits !== null && !entry.reaching && (spec.kind === 'count' ? entry.view.hitsSeen : entry.view.pausedSeen) >= spec.hits) {
            entry.reaching = true;
            void this.collect().then(() => this.end(id, `reached its ${spec.hits} hit(s) and was removed`, 'info'));
          }
        }
        this.answeredFlush(w.pid, m.flushed);
        return true;
      }
      case 'probe-event': {
        const entry = this.active.get(m.id) ?? this.ended.find((e) => e.spec.id === m.id);
        if (!entry) return true;
        const mine = entry.view.workers[String(w.index)];
        const time = new Date(this.clock.now()).toISOString();
        if (m.event === 'snapshot') entry.view.snapshots.push({ worker: w.index, path: m.path, ...(m.problem ? { problem: m.problem } : {}), requestId: m.requestId, time });
        else if (m.event === 'paused') entry.view.pausedIn.push({ worker: w.index, requestId: m.requestId, time });
        else if (m.event === 'suspended') {
          // The worker warned of it itself (its line names the worker, its pid and the reason):
          // here it is only recorded, for list and get (review11.10: it was warned twice).
          if (mine) {
            mine.state = 'suspended';
            mine.suspended = { code: m.code, message: m.message };
          }
        } else if (m.event === 'removed') {
          if (mine) mine.error = { code: m.code, message: m.message };
          this.end(m.id, `removed: ${reason(m.message)}`, 'warn');
        }
        return true;
      }
      default:
        return false;
    }
  }

  close(): void {
    for (const e of this.active.values()) if (e.expiry !== null) this.clock.clearTimeout(e.expiry);
  }
}

/** Why a worker suspended a probe, in two words. */
function suspendReason(w: ProbeWorkerView): string {
  const code = w.suspended?.code;
  return code === 'TSPUMA_ERR_PROBE_SOURCE_CHANGED' ? 'source changed' : code === 'TSPUMA_ERR_PROBE_BUDGET' ? 'pause budget' : 'suspended';
}

/** "in all workers (source changed)", "in worker 1 (pause budget)", or null: where an active probe is suspended. */
function suspendedIn(workers: Record<string, ProbeWorkerView>): string | null {
  const all = Object.entries(workers).filter(([, w]) => w.state !== 'removed');
  const suspended = all.filter(([, w]) => w.state === 'suspended');
  if (suspended.length === 0) return null;
  const reasons = [...new Set(suspended.map(([, w]) => suspendReason(w)))].join(', ');
  if (suspended.length === all.length) return `in all workers (${reasons})`;
  return `in worker${suspended.length > 1 ? 's' : ''} ${suspended.map(([i]) => i).join(', ')} (${reasons})`;
}

function describeSeconds(s: number): string {
  return s >= 3600 && s % 3600 === 0 ? `${s / 3600} h` : s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${Math.round(s * 10) / 10} s`;
}

/** "log at src/orders.ts:12 \"charged {order.id}\" when total > 100, at most 5 hits". */
function describe(spec: ProbeSpec, location: string): string {
  const what = spec.kind === 'log' ? `logpoint at ${location} ${JSON.stringify(spec.template)}` : spec.kind === 'count' ? `hit counter at ${location}` : spec.kind === 'break' ? `replay breakpoint at ${location} for request ${spec.requestId ?? 'any'}` : `snapshot at ${location}`;
  return `${what}${spec.when ? ` when ${spec.when}` : ''}${spec.hits !== null ? `, at most ${spec.hits} hit(s)` : ''}${spec.kind === 'count' ? '' : `, at most ${spec.rate}/s per worker`}`;
}

/** A worker's message with its own "Probe N at FILE:LINE removed: " taken off: the primary's line says that already. */
function reason(message: string): string {
  return message.replace(/^Probe \d+ at .+? removed: /, '');
}
