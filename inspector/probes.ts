// A worker's probes (loaded on the first probe the primary sends; never before): an in-process
// inspector session (no port) sets one V8 breakpoint per probe and loaded script, whose condition
// V8 evaluates: the user's `when`, then the gate below (rate limit, hits, expiry, suspension), so
// a false condition or a hit over the rate never pauses the thread. A hit that passes pauses it
// for as long as the work takes: a logpoint evaluates its template with V8's side-effect check and
// writes one log line, a snapshot reads every frame like a failure dump and writes it to the dump
// folder, replay's breakpoint leaves the thread paused for the debugger attached. Files loaded
// later are armed as they are parsed. Paused time per second is budgeted. Where it is sound
// (probe-edits.ts: a probe with no --when, a process no DevTools can attach to) the gate is
// compiled into the script by live edit instead of a breakpoint: a pass costs the gate's call,
// not a V8 condition evaluation.
import { readFileSync } from 'node:fs';
import inspector from 'node:inspector';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { FrameReader, type CallFrame, type PropertyDescriptor, type RemoteObject, type ScriptInfo } from '../diagnostics/frames.js';
import { Redactor } from '../diagnostics/redact.js';
import { TspumaError } from '../server/errors.js';
import { kProbesAttachable } from '../server/shared-names.js';
import type { PrimaryMessage, WorkerMessage, ProbeArmState, ProbeEvent } from '../server/cluster/messages.js';
import type { FoundRequest } from '../server/app-calls.js';
import { nearestText, place, possibleBreakpoints, scriptHolds, type LoadedScript } from './probe-locations.js';
import { spawnResumer, startResumer, type Resumer } from './probe-resumer.js';
import { clientWants } from './probe-devtools.js';
import { PauseBudget, processMeter, type PauseMark, type PauseMeter } from './probe-budget.js';
import { LiveEdits, type EditSite } from './probe-live-edit.js';
import { WhenChecks } from './probe-when-checks.js';
import { ProbeOutput } from './probe-output.js';
import { RateLimit } from './probe-rate.js';
import { FrameReads, SIDE_EFFECT, idOf } from './probe-frame-reads.js';
import { UNDECIDED, chainEnd, primitive, read, readOptional, takeWhen } from './probe-when-gate.js';
import { PROBE_GATE_KEY, locationText, parseTemplate, renameIdentifiers, v8Condition, type ProbeSpec, type TemplatePart } from '../server/probe-spec.js';

/** What the engine needs from its worker. */
export interface ProbeEngineOptions {
  worker: number;
  log: Logger;
  send(message: WorkerMessage): void;
  redact: string | null;
  frames: number;
  /** `dumpDir` (else TSPUMA_DUMP_DIR, else ./tspuma-dumps). */
  dumpDir: string | null;
  /** probePauseBudget: ms per second. */
  budgetMs: number;
  /** Longest a replay stop is left to a debugger (kept under workerTimeout, which would kill the worker). */
  holdMs: number;
  /** The request whose app call is running now (server/app-calls.ts), read while paused. */
  requestNow?: () => IncomingMessage | null;
  /** For a hit nothing names: the requests in the app from before the first probe (server/app-calls.ts). */
  requestUntracked?: () => FoundRequest | null;
  /** DevTools may attach to this process (--inspect): no live edit (V8 drops a client's breakpoints in an edited function). */
  devtools?: boolean;
  /** probeLiveEdit: arm probes with no `when` by live edit where sound (default false). */
  liveEdit?: boolean;
  now?: () => number;
  /** The clocks the pause budget reads (probe-budget.ts). */
  meter?: PauseMeter;
}

interface Armed {
  spec: ProbeSpec;
  parts: TemplatePart[];
  where: string;
  /** Where it is armed: the sites (by key) in each loaded script of its file (one per function that runs the line). */
  sites: Map<string, Site>;
  /** The scripts it was placed in (armed there, or found to have no code at the line). */
  scripts: Set<string>;
  /** Hits that paused (or, for count, every hit) since the last report, and in all. */
  pendingHits: number;
  pendingPaused: number;
  paused: number;
  /** Its rate limit here (probe-rate.ts). */
  limit: RateLimit;
  suspended: boolean;
  /** `when` as checked with the side-effect check at each of its sites (by key), its bindings renamed as compiled there. */
  whenAt: Map<string, string>;
  /** Passes of its line in the current one-second window (each costs V8 a condition evaluation). */
  passes: number;
  /** When that window began, in wall time and on the budget's clock. */
  passWindow: number;
  passWindowOwn: number;
  /** Its passes went over what the budget allows: suspended at the pause this asked for. */
  overrun: boolean;
  /** When its line last ran, the shortest gap between two runs in the window, and the cost a run is taken to have (ms). */
  lastPass: number;
  minGap: number;
  passCost: number;
}

/**
 * One V8 breakpoint (V8 allows one per place and session), shared by every probe armed there: a
 * logpoint and a snapshot on the same line each get their turn at the gate.
 */
interface Site extends EditSite {
  key: string;
  breakpointId: string | null;
  probes: Set<Armed>;
  /** Source name -> compiled name of the bindings the compiler renamed in the code there (read at its first pause). */
  renames: Map<string, string> | null;
}

/** Where a probe was armed in a script, and what the user should know about it. */
interface Placed {
  at: string;
  note?: string;
}

interface Paused {
  reason: string;
  hitBreakpoints?: string[];
  callFrames: (CallFrame & { callFrameId: string })[];
}


const REPORT_MS = 1000;
/** URL prefix of this folder's compiled files: a pause in them is never a probe's. */
const OWN_URL = new URL('./', import.meta.url).href;
/** Calls timed to measure what a pass of a probed line costs, and the bounds put on the measure. */
const CALIBRATION_PASSES = 40;
const DEFAULT_PASS_COST_MS = 0.25;
const MIN_PASS_COST_MS = 0.005;
/** Passes per second a probe always gets (a line a request passes once, at a few hundred requests a second). */
const MIN_PASSES = 200;

export class ProbeEngine {
  private readonly session = new inspector.Session();
  private readonly scripts = new Map<string, LoadedScript>();
  private readonly probes = new Map<number, Armed>();
  /** "scriptId:line:column" -> its site; V8 breakpoint id -> its site. */
  private readonly sites = new Map<string, Site>();
  private readonly siteOf = new Map<string, Site>();
  /** The probes whose gate let the current hit pause the thread. */
  private admitted: Armed[] = [];
  /** Of those, the ones a compiled `--when` admitted: decided true there, or undecided (V8 evaluates it at the pause). */
  private admittedWhen = new Map<Armed, 'decided' | 'undecided'>();
  private readonly redactor: Redactor;
  private readonly reader: FrameReader;
  /** Reads at a pause (probe-frame-reads.ts), and what a hit writes (probe-output.ts). */
  private readonly reads: FrameReads;
  private readonly output: ProbeOutput;
  private readonly report: NodeJS.Timeout;
  private readonly now: () => number;
  /** Paused time per second (probePauseBudget). */
  private readonly budget: PauseBudget<Armed>;
  private closed = false;
  /** The process could be attached from outside (kept for the next engine when this one closes). */
  private attachableSeen = false;
  /** The pause of ours in progress: when it began and which probes it was for. */
  private ours: { mark: PauseMark; hit: Armed[] } | null = null;
  /** When the pause being handled began (its line says how long the thread was held). */
  private pauseStarted = 0;
  /** Live edit (probe-live-edit.ts), and the site whose guard asked for the coming pause. */
  private readonly edits: LiveEdits<Site>;
  /** `--when` checked with the side-effect check (probe-when-checks.ts). */
  private readonly whens: WhenChecks<Armed, Site>;
  private guardPending: Site | null = null;
  /** Arming probes in a script just parsed (onScript): no live edit then. */
  private parsing = false;
  /** In a Debugger.paused handler of ours (no live edit then). */
  private pausedNow = false;

  /** Milliseconds since the pause began, to 0.01 ms. */
  private heldMs(): number {
    return Math.round((this.now() - this.pauseStarted) * 100) / 100;
  }

  /** What one pass of a probed line costs here (a breakpoint condition V8 evaluates), in ms: measured at start. */
  private passCostMs = DEFAULT_PASS_COST_MS;
  /** Passes per second per probe the pause budget allows at that cost (fewer when runs come back to back and cost more). */
  private maxPasses = 0;

  /**
   * Starts the engine; first, in a process a session from outside its thread can reach, the
   * resumer thread (probe-resumer.ts). Elsewhere pauses are resumed in-process, and the thread
   * starts if the process becomes attachable later (attachable(), or an inspector the app opened).
   */
  static async start(opts: ProbeEngineOptions): Promise<ProbeEngine> {
    const engine = new ProbeEngine(opts, ProbeEngine.attachable(opts) ? await startResumer() : null);
    engine.calibrate();
    return engine;
  }

  /** Whether a session from outside this thread can reach the process now (--inspect, discovery's bridge, an inspector open). */
  private static attachable(opts: ProbeEngineOptions): boolean {
    return opts.devtools === true || inspector.url() !== undefined || (globalThis as Record<symbol, unknown>)[kProbesAttachable] === true;
  }

  /** The resumer thread: none (pauses resumed in-process), starting, or live (it resumes every pause). */
  get resumerThread(): 'none' | 'starting' | 'live' {
    return this.resumer === null ? 'none' : this.resumer.live() ? 'live' : 'starting';
  }

  /** The process became attachable while probes run: the resumer thread starts (once). */
  private readonly onAttachable = (): void => {
    this.attachableSeen = true;
    this.startResumerLater('the process can be attached from outside now');
  };

  private startResumerLater(why: string): void {
    if (this.resumer !== null || this.closed) return;
    const { resumer, ready } = spawnResumer();
    this.resumer = resumer;
    ready.then(
      () => this.opts.log.debug(`Probes: ${why}: pauses are resumed by the resumer thread from now on`),
      (err: Error) => {
        this.opts.log.warn({ err }, `Probes: ${why}, and the resumer thread did not start (${err.message}): a DevTools client attached here would hold every probe's pause until it resumes`);
        if (this.resumer === resumer) this.resumer = null;
        void resumer.close().catch(() => undefined);
      },
    );
  }

  /** Resumes the pause being handled, in-process and (with an outside session able to attach) through the resumer thread: the last thing a handler does. */
  private resumePause(): void {
    try {
      this.post('Debugger.resume');
    } catch (err) {
      this.opts.log.error({ err }, `Probe: cannot resume: ${(err as Error).message}`);
    }
    // An inspector the app opened itself (inspector.open()) can bring an outside client too.
    if (this.resumer === null && inspector.url() !== undefined) {
      this.attachableSeen = true;
      this.startResumerLater('an inspector was opened in this process');
    }
    // Node waits for the resume from the resumer thread once it listens (probe-resumer.ts).
    this.resumer?.request();
  }

  /**
   * Times CALIBRATION_PASSES calls of a function of this module under a breakpoint whose condition
   * is false (nothing pauses): what a pass of a probed line costs on this machine now.
   */
  private calibrate(): void {
    try {
      const g = globalThis as Record<symbol, unknown>;
      const key = Symbol.for('tspuma.probe.calibrate');
      g[key] = calibrationTarget;
      const { result } = this.post<{ result: RemoteObject }>('Runtime.evaluate', { expression: `globalThis[Symbol.for('tspuma.probe.calibrate')]` });
      delete g[key];
      const { internalProperties } = this.post<{ internalProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: result.objectId!, ownProperties: true });
      const at = internalProperties?.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as { scriptId: string; lineNumber: number; columnNumber: number } | undefined;
      if (!at) return;
      const { breakpointId } = this.post<{ breakpointId: string }>('Debugger.setBreakpoint', { location: { scriptId: at.scriptId, lineNumber: at.lineNumber + 3, columnNumber: 0 }, condition: v8Condition({ id: -1, when: null }) });
      // On the budget's clock: time the thread waited for a CPU meanwhile is not a pass's cost.
      const started = this.budget.own();
      calibrationTarget(CALIBRATION_PASSES);
      const perPass = (this.budget.own() - started) / CALIBRATION_PASSES;
      this.post('Debugger.removeBreakpoint', { breakpointId });
      this.passCostMs = Math.max(MIN_PASS_COST_MS, perPass);
    } catch (err) {
      this.opts.log.debug({ err }, `Probes: the cost of a pass could not be measured; ${DEFAULT_PASS_COST_MS} ms assumed`);
    } finally {
      this.maxPasses = Math.max(MIN_PASSES, Math.floor(this.opts.budgetMs / this.passCostMs));
    }
  }

  private constructor(
    private readonly opts: ProbeEngineOptions,
    private resumer: Resumer | null,
  ) {
    const g = globalThis as Record<symbol, unknown>;
    this.attachableSeen = g[kProbesAttachable] === true || resumer !== null;
    g[kProbesAttachable] = this.onAttachable;
    this.now = opts.now ?? (() => performance.now());
    this.budget = new PauseBudget(opts.budgetMs, opts.meter ?? processMeter);
    this.redactor = new Redactor(opts.redact);
    this.reader = new FrameReader(this.redactor);
    this.edits = new LiveEdits<Site>({
      post: (method, params) => this.post(method, params), log: opts.log, liveEdit: opts.liveEdit === true, devtoolsMayAttach: () => this.devtoolsMayAttach(),
      pausedNow: () => this.pausedNow, parsing: () => this.parsing, closed: () => this.closed, scripts: this.scripts, scriptSource: (id) => this.scriptSource(id),
      edited: (scriptId) => {
        for (const site of this.sites.values()) if (site.scriptId === scriptId && site.breakpointId !== null) this.setBreakpoint(site, [...site.probes]);
      },
    });
    this.reads = new FrameReads({ post: (method, params) => this.post(method, params), requestNow: opts.requestNow, requestUntracked: opts.requestUntracked });
    this.whens = new WhenChecks<Armed, Site>({
      reads: this.reads, log: opts.log, worker: opts.worker, compiledNames: (site, top, expr) => this.compiledNames(site, top, expr), rearm: (site) => this.rearm(site),
      sideEffect: (armed, what, expression, message) => this.sideEffect(armed, what, expression, message),
      removed: (armed, err) => {
        this.disarm(armed.spec.id);
        this.event(armed.spec.id, { event: 'removed', code: err.code, message: err.message });
      },
    });
    this.output = new ProbeOutput({
      log: opts.log, worker: opts.worker, frames: opts.frames, dumpDir: opts.dumpDir, redactor: this.redactor, reader: this.reader, reads: this.reads,
      post: (method, params) => this.post(method, params), scripts: this.scripts, scriptSource: (id) => this.scriptSource(id), heldMs: () => this.heldMs(), event: (id, e) => this.event(id, e), ownUrl: OWN_URL,
    });
    // A named global (not enumerable): a condition reads it with one global lookup, where
    // `globalThis[Symbol.for(…)]` cost every pass about 100,000 more instructions (bench/README.md).
    // A compiled `--when` (probe-when-compile.ts) reads through r/o/c/p and ends at w.
    const gate = Object.assign((id: number, check?: 1) => this.gate(id, check), {
      n: (id: number) => this.counted(id),
      e: (n: number) => this.guardGate(n),
      f: (n: number) => this.edits.guarded.has(n) && takeWhen() >= 0,
      w: (n: number, id: number, value: unknown) => this.whenGate(n, id, value),
      r: read,
      o: readOptional,
      c: chainEnd,
      p: primitive,
      U: UNDECIDED,
    });
    Object.defineProperty(globalThis, PROBE_GATE_KEY, { value: gate, enumerable: false, configurable: true, writable: false });
    this.session.connect();
    // Scripts are announced synchronously as they are parsed, before they run: a probe on a
    // file not loaded yet is armed here, so even its top-level code stops.
    this.session.on('Debugger.scriptParsed', (m: { params: { scriptId: string; url: string; sourceMapURL?: string; isModule?: boolean } }) => this.onScript(m.params));
    this.session.on('Debugger.paused', (m: { params: Paused }) => this.onPaused(m.params));
    this.session.on('Debugger.resumed', () => {
      if (!this.ours) return;
      this.spend(this.ours.mark, this.ours.hit);
      this.ours = null;
    });
    this.post('Debugger.enable');
    this.report = setInterval(() => this.flush(), REPORT_MS);
    this.report.unref();
  }

  /** Same-thread sessions answer synchronously. */
  private post<T = unknown>(method: string, params: object = {}): T {
    let error: Error | null = null;
    let result: T | undefined;
    this.session.post(method, params, (err: Error | null, res?: object) => {
      error = err;
      result = res as T;
    });
    if (error) throw error;
    return result as T;
  }

  /** Guards of removed probes V8 has not let out of the app's code yet (a function was waiting at an await): retried each second. */
  get editsPending(): boolean {
    return this.edits.pending;
  }

  /** Probes armed (or pending) here. */
  get size(): number {
    return this.probes.size;
  }

  handle(message: PrimaryMessage): void {
    if (this.closed) return;
    if (message.type === 'probe-set') this.arm(message.probe);
    else if (message.type === 'probe-rm') this.disarm(message.id);
  }

  private state(id: number, s: ProbeArmState): void {
    this.opts.send({ tspuma: 1, type: 'probe-state', index: this.opts.worker, id, ...s });
  }

  arm(spec: ProbeSpec): void {
    this.disarm(spec.id);
    let parts: TemplatePart[] = [];
    try {
      parts = spec.template !== null ? parseTemplate(spec.template) : [];
    } catch (err) {
      const e = err as TspumaError;
      return this.state(spec.id, { state: 'error', code: e.code, message: e.message });
    }
    const rate = spec.rate;
    const armed: Armed = { spec, parts, where: locationText(spec.file, spec.line, spec.column), sites: new Map(), scripts: new Set(), pendingHits: 0, pendingPaused: 0, paused: 0, limit: new RateLimit(rate, this.now), suspended: false, whenAt: new Map(), passes: 0, passWindow: -Infinity, passWindowOwn: -Infinity, overrun: false, lastPass: -Infinity, minGap: Infinity, passCost: 0 };
    this.probes.set(spec.id, armed);
    let at: Placed | null = null;
    let missing: { below: number | null; above: number | null } | null = null;
    for (const script of [...this.scripts.values()]) {
      let r: ReturnType<typeof this.armIn>;
      try {
        r = this.armIn(armed, script);
      } catch (err) {
        // A script V8 has let go of (its id answers "Script not found"): forgotten; the file's live one is armed.
        if (/Script not found/.test((err as Error).message)) this.scripts.delete(script.scriptId);
        else this.opts.log.warn({ err, probe: spec.id }, `Probe ${spec.id} at ${armed.where}: cannot arm it in ${script.url} (worker ${this.opts.worker}): ${(err as Error).message}`);
        continue;
      }
      if (r === 'gone') return;
      if (r && 'at' in r) at ??= r;
      else if (r) missing = r;
    }
    if (at) return this.state(spec.id, { state: 'armed', ...at, location: armed.where });
    if (missing) {
      this.disarm(spec.id);
      const err = this.noCode(armed, missing, 'in the script loaded for it');
      return this.state(spec.id, { state: 'error', code: err.code, message: err.message });
    }
    this.state(spec.id, { state: 'pending' });
  }

  private noCode(armed: Armed, p: { below: number | null; above: number | null }, reason: string): TspumaError {
    return new TspumaError('TSPUMA_ERR_PROBE_NO_CODE', { location: armed.where, worker: this.opts.worker, reason, nearest: nearestText(p) });
  }

  /**
   * Where it is armed (for the set answer): the line taken, where it stops in the script, and what
   * the user should know about the line (a one-line route's handler, a line that moved).
   */
  private describe(armed: Armed, script: LoadedScript, sites: Site[], notes: string[]): Placed {
    const form = (s: Site): string => {
      if (armed.spec.when !== null) return s.edit ? ` (condition compiled into the gate; gate compiled in by live edit: ${s.edit.ms} ms)` : ` (conditional breakpoint: ${s.noEdit ?? 'its --when is evaluated by V8 at each pass'})`;
      return s.edit ? ` (gate compiled in by live edit: ${s.edit.ms} ms)` : s.noEdit ? ` (breakpoint: ${s.noEdit})` : '';
    };
    const at = sites.map((s) => `generated line ${s.location.lineNumber + 1} column ${s.location.columnNumber + 1}${form(s)}`).join(' and ');
    return { at: `${script.url}, ${at}`, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
  }

  /**
   * Arms the probe in one script. Returns where (a description), null when the script is not that
   * file's (or it was placed there already), 'gone' when its line is no longer in the file (the
   * probe is suspended here), else the lines with code near it.
   */
  private armIn(armed: Armed, script: LoadedScript): Placed | null | 'gone' | { below: number | null; above: number | null } {
    if (armed.scripts.has(script.scriptId) || !scriptHolds(script, armed.spec.file) || this.edits.replaced(script)) return null;
    armed.scripts.add(script.scriptId);
    const found = findLine(armed.spec);
    const notes: string[] = [];
    if ('gone' in found) {
      this.suspendChanged(armed, found.gone);
      return 'gone';
    }
    if (found.line !== armed.spec.line) {
      const from = armed.where;
      armed.where = locationText(armed.spec.file, found.line, armed.spec.column);
      const note = `${relative(armed.spec.file)} changed since the probe was set: its line ${JSON.stringify(clip(armed.spec.lineText!))} is line ${found.line} now`;
      notes.push(note);
      this.opts.log.info({ probe: armed.spec.id, location: armed.where, was: from }, `Probe ${armed.spec.id} at ${from} moved to ${armed.where} in worker ${this.opts.worker}: ${note}`);
    }
    const placed = place(script, armed.spec.file, found.line, armed.spec.column ?? null, possibleBreakpoints((method, params) => this.post(method, params)), () => {
      try {
        return readFileSync(armed.spec.file, 'utf8').split('\n')[found.line - 1] ?? null;
      } catch {
        return null;
      }
    });
    if (!placed.ok) return placed;
    if (placed.note) notes.push(placed.note);
    const sites: Site[] = [];
    for (const { scriptId, lineNumber, columnNumber } of placed.locations) {
      const key = `${scriptId}:${lineNumber}:${columnNumber}`;
      let site = this.sites.get(key);
      if (!site) {
        site = { key, scriptId, location: { lineNumber, columnNumber }, breakpointId: null, probes: new Set(), renames: null, edit: null };
        this.sites.set(key, site);
      }
      site.probes.add(armed);
      armed.sites.set(key, site);
      this.rearm(site);
      sites.push(site);
    }
    return this.describe(armed, script, sites, notes);
  }


  /** Its line is not in the file this worker loaded (a deploy changed it): no more hits here, and the log says why. */
  private suspendChanged(armed: Armed, now: string | null): void {
    armed.suspended = true;
    this.removeBreakpoints(armed);
    const err = new TspumaError('TSPUMA_ERR_PROBE_SOURCE_CHANGED', {
      id: armed.spec.id, location: armed.where, worker: this.opts.worker, was: JSON.stringify(clip(armed.spec.lineText ?? '')), now: now === null ? 'past the end of the file' : `reads ${JSON.stringify(clip(now))}`,
    });
    this.opts.log.warn({ probe: armed.spec.id, code: err.code }, err.message);
    this.event(armed.spec.id, { event: 'suspended', ms: 0, code: err.code, message: err.message });
  }

  /** Sets the site's breakpoint again with the conditions of the probes armed there (or removes it). */
  private rearm(site: Site): void {
    this.dropBreakpoint(site);
    const probes = [...site.probes];
    if (probes.length === 0) {
      this.sites.delete(site.key);
      this.edits.unguard(site);
      return;
    }
    if (this.edits.guard(site, probes)) return;
    this.setBreakpoint(site, probes);
  }

  private dropBreakpoint(site: Site): void {
    if (site.breakpointId === null) return;
    this.siteOf.delete(site.breakpointId);
    try {
      this.post('Debugger.removeBreakpoint', { breakpointId: site.breakpointId });
    } catch {
      /* its script is gone */
    }
    site.breakpointId = null;
  }

  /** The site's V8 breakpoint, with the conditions of its probes (set again when it has one). */
  private setBreakpoint(site: Site, probes: Armed[]): void {
    this.dropBreakpoint(site);
    // Each probe's condition is evaluated (| does not stop early), so each gate counts its hit.
    // A `when` not checked yet in this worker is left out: V8 would evaluate it without the check.
    const conditionOf = (p: Armed) => {
      if (p.spec.when === null) return v8Condition({ id: p.spec.id, when: null });
      const checked = p.whenAt.get(site.key);
      return checked !== undefined ? v8Condition({ id: p.spec.id, when: checked }) : v8Condition({ id: p.spec.id, when: null }, true);
    };
    const condition = probes.length === 1 ? conditionOf(probes[0]!) : probes.map((p) => `!!(${conditionOf(p)})`).join(' | ');
    const { breakpointId, actualLocation } = this.post<{ breakpointId: string; actualLocation: { lineNumber: number; columnNumber: number } }>('Debugger.setBreakpoint', {
      location: { scriptId: site.scriptId, ...site.location },
      condition,
    });
    site.breakpointId = breakpointId;
    site.location = { lineNumber: actualLocation.lineNumber, columnNumber: actualLocation.columnNumber };
    this.siteOf.set(breakpointId, site);
  }



  /** A DevTools client may attach to this process (--inspect, or an inspector opened since): no live edit, no skipping of `debugger`. */
  private devtoolsMayAttach(): boolean {
    return this.opts.devtools === true || inspector.url() !== undefined;
  }



  /** Called by a guard at every pass of its line: counts a hit of each probe there; true (pause) when one may log or snapshot. */
  private guardGate(n: number): boolean {
    const site = this.edits.guarded.get(n);
    if (!site) return false;
    let any = false;
    for (const armed of site.probes) {
      // A probe with a `--when` is the compiled guard's (whenGate), never the plain one's.
      if (armed.spec.when !== null || !this.pass(armed)) continue;
      this.admitted.push(armed);
      any = true;
    }
    if (any) this.guardPending = site;
    return any;
  }

  /**
   * Called by a guard with a compiled `--when` (probe-when-compile.ts), once per probe there, with
   * the value the condition computed: false, no pause (nothing counted, as V8 does with a false
   * condition); true, counted and gated as any hit; undecided (it met a getter, a proxy, an object
   * in arithmetic, a name in its TDZ), a pause where V8 evaluates the source with its side-effect
   * check, as a breakpoint's first pass does; one that threw (a member of undefined), false once
   * that has been reported at this place (the first such pass pauses, for the report).
   */
  private whenGate(n: number, id: number, value: unknown): boolean {
    const met = takeWhen();
    const site = this.edits.guarded.get(n);
    const armed = this.probes.get(id);
    if (!site || !armed || armed.suspended || !site.probes.has(armed)) return false;
    if (met === 2 || value === UNDECIDED || (met === 1 && armed.spec.when !== null && !armed.whenAt.has(site.key))) {
      this.admitted.push(armed);
      this.admittedWhen.set(armed, 'undecided');
      this.guardPending = site;
      return true;
    }
    if (met === 1 || !value || !this.pass(armed)) return false;
    this.admitted.push(armed);
    this.admittedWhen.set(armed, 'decided');
    this.guardPending = site;
    return true;
  }

  /** A pause at a `debugger` statement nobody else can take: the app's own (no DevTools can attach here), or a guard's whose gate said no. */
  private strayDebugger(params: Paused): boolean {
    const at = params.callFrames[0]?.location;
    if (params.reason !== 'other' || !at) return false;
    if (this.edits.atGuard(at)) return true;
    if (this.devtoolsMayAttach()) return false;
    const source = this.scriptSource(at.scriptId);
    if (source === null) return false;
    const line = source.split('\n', at.lineNumber + 1)[at.lineNumber] ?? '';
    return line.startsWith('debugger', at.columnNumber);
  }

  /** The site whose guard's `debugger` this pause is at (its gate asked for it just now), else null: an app's own `debugger`. */
  private guardHit(params: Paused): Site | null {
    const site = this.guardPending;
    this.guardPending = null;
    const at = params.callFrames[0]?.location;
    if (params.reason !== 'other' || !site?.edit || !at) return null;
    return at.scriptId === site.scriptId && at.lineNumber === site.edit.place.line && at.columnNumber === site.edit.column ? site : null;
  }

  private onScript(p: { scriptId: string; url: string; sourceMapURL?: string; isModule?: boolean }): void {
    if (!p.url || p.url.startsWith('node:')) return;
    const script: LoadedScript = { scriptId: p.scriptId, url: p.url, ...(p.sourceMapURL ? { sourceMapURL: p.sourceMapURL } : {}), ...(p.isModule ? { isModule: true } : {}) };
    this.scripts.set(p.scriptId, script);
    // Parsed, not run yet (a module imported on first use): V8 would take an edit into a script
    // that is not the one that runs, so probes armed now keep their breakpoints.
    this.parsing = true;
    try {
      this.armParsed(script);
    } finally {
      this.parsing = false;
    }
  }

  private armParsed(script: LoadedScript): void {
    for (const armed of [...this.probes.values()]) {
      if (armed.suspended) continue;
      const had = armed.sites.size > 0;
      try {
        const r = this.armIn(armed, script);
        if (r === 'gone') continue;
        if (r && 'at' in r && !had) {
          this.opts.log.info({ probe: armed.spec.id, location: armed.where }, `Probe ${armed.spec.id} at ${armed.where} armed: ${r.at}${r.note ? ` (${r.note})` : ''}`);
          this.state(armed.spec.id, { state: 'armed', ...r, location: armed.where });
        } else if (r && !('at' in r) && !had) {
          const err = this.noCode(armed, r, `in ${script.url}, loaded after the probe was set`);
          this.disarm(armed.spec.id);
          this.state(armed.spec.id, { state: 'error', code: err.code, message: err.message });
        }
      } catch (err) {
        this.opts.log.warn({ err, probe: armed.spec.id }, `Probe ${armed.spec.id}: cannot arm it in ${script.url}: ${(err as Error).message}`);
      }
    }
  }

  disarm(id: number): void {
    const armed = this.probes.get(id);
    if (!armed) return;
    this.probes.delete(id);
    this.removeBreakpoints(armed);
  }

  private removeBreakpoints(armed: Armed): void {
    for (const site of armed.sites.values()) {
      site.probes.delete(armed);
      this.rearm(site);
    }
    armed.sites.clear();
    armed.scripts.clear();
  }

  /**
   * Called by V8 first in the breakpoint's condition, at every pass of the line: a pass costs the
   * thread a condition evaluation (passCostMs) whether or not it pauses, so a probe whose passes
   * within one second cost more than the pause budget asks for one pause (true), where it is
   * suspended. A probe on an inner loop's line is stopped within the budget, not when the loop ends.
   */
  private counted(id: number): boolean {
    const armed = this.probes.get(id);
    if (!armed || armed.suspended || armed.overrun) return false;
    const now = performance.now();
    // A window is one second of the budget's clock (probe-budget.ts), read once a wall second has
    // passed: on a loaded machine a loop runs fewer passes a wall second, not fewer a second of its own.
    if (now - armed.passWindow >= 1000) {
      const own = this.budget.own();
      if (own - armed.passWindowOwn >= 1000) {
        armed.passWindow = now;
        armed.passWindowOwn = own;
        armed.passes = 0;
        armed.minGap = Infinity;
      }
    }
    // Passes back to back (a loop's body) show what a pass costs under the load now, up to twice the measure.
    const gap = now - armed.lastPass;
    armed.lastPass = now;
    if (gap < armed.minGap) armed.minGap = gap;
    armed.passes++;
    armed.passCost = Math.max(this.passCostMs, Math.min(armed.minGap, 2 * this.passCostMs));
    if (armed.passes * armed.passCost <= this.opts.budgetMs) return false;
    armed.overrun = true;
    this.admitted.push(armed);
    return true;
  }

  /**
   * Called by V8 from the breakpoint's condition, after `when` held: counts the hit and says
   * whether it may pause. Cheap: no allocation, one clock read. A probe whose `when` this worker
   * has not checked yet at a place is armed there without it (rearm, `check`): its first pass there
   * pauses, for that check.
   */
  private gate(id: number, check?: 1): boolean {
    const armed = this.probes.get(id);
    if (!armed) return false;
    if (check === 1) {
      if (armed.suspended) return false;
      this.admitted.push(armed);
      return true;
    }
    if (!this.pass(armed)) return false;
    this.admitted.push(armed);
    return true;
  }

  /** Counts a hit (its `when` held) and applies the rate limit, the hits left, the expiry and suspension. */
  private pass(armed: Armed): boolean {
    const spec = armed.spec;
    armed.pendingHits++;
    if (spec.kind === 'count' || armed.suspended) return false;
    const now = Date.now();
    if (now > spec.expiresAt || (spec.hits !== null && armed.paused >= spec.hits)) return false;
    return spec.kind === 'break' || armed.limit.take();
  }

  private onPaused(params: Paused): void {
    const guardSite = this.guardHit(params);
    const ours = guardSite !== null || (params.hitBreakpoints ?? []).some((b) => this.siteOf.has(b));
    const hit = this.admitted;
    this.admitted = [];
    const how = this.admittedWhen;
    if (how.size > 0) this.admittedWhen = new Map();
    // A guard's pause is at the end of the line above the probed statement: frames read as at that statement.
    if (guardSite) params = { ...params, callFrames: [{ ...params.callFrames[0]!, location: { ...params.callFrames[0]!.location, ...guardSite.location } }, ...params.callFrames.slice(1)] };
    // A DevTools client's breakpoint at this place, or a step it asked for (probe-devtools.ts): the
    // pause is its own too, and the probes here record their hits and leave it to the client (P6, P10).
    const top0 = params.callFrames[0];
    const client = clientWants(ours && top0 ? top0.location : undefined, (condition) => this.clientCondition(top0!.callFrameId, condition));
    // Someone else's pause (a DevTools breakpoint, debug mode's capture at a throw): theirs. But
    // an app's own `debugger` statement, with no DevTools able to attach, would hold the thread
    // for good (this session enabled the debugger): resumed, as node without a debugger skips it.
    if (!ours) {
      // V8 with a debugger enabled raises the heap limit at it and pauses (reason OOM) for a
      // client to look: with no one to resume it the worker would freeze, every request it holds
      // with it, until workerTimeout. Resumed: it dies of the out-of-memory abort as it would
      // without probes, and its primary says so and replaces it (S3).
      if (params.reason === 'OOM' || this.strayDebugger(params)) this.resumePause();
      return;
    }
    const mark = this.budget.mark();
    this.pauseStarted = this.now();
    this.pausedNow = true;
    /** ms to leave the thread paused for a debugger (replay's stop); 0: resume now. */
    let hold = 0;
    try {
      const top = params.callFrames[0];
      if (!top || (top.url || this.scripts.get(top.location.scriptId)?.url || '').startsWith(OWN_URL)) return;
      // Each probe's site before any is handled: one removed here sets the breakpoint again.
      const sites = new Map(hit.map((armed) => [armed, guardSite ?? this.siteHit(armed, params)]));
      for (const armed of hit) {
        if (!this.probes.has(armed.spec.id)) continue;
        if (armed.overrun) {
          const ms = Math.round(armed.passes * armed.passCost * 10) / 10;
          this.suspend(armed, `its line ran ${armed.passes} times within one second, each run a breakpoint condition V8 evaluates (about ${Math.round(armed.passCost * 1000) / 1000} ms each here: ${ms} ms)`, ms);
          continue;
        }
        const site = sites.get(armed) ?? null;
        // A compiled `--when` that could not decide: V8 evaluates the source, checked, then (if it held) counted.
        if (how.get(armed) === 'undecided') {
          if (!(site && this.whens.decide(armed, site, top, params.callFrames) && this.pass(armed))) continue;
        }
        // The first pass at this place: `when` checked, then (if it held) counted as V8 would have.
        else if (how.get(armed) !== 'decided' && armed.spec.when !== null && site && !armed.whenAt.has(site.key) && !(this.whens.check(armed, site, top, params.callFrames) && this.pass(armed))) continue;
        hold = Math.max(hold, this.onHit(armed, params, site));
      }
    } catch (err) {
      this.opts.log.warn({ err }, `Probe hit could not be handled: ${(err as Error).message}`);
    } finally {
      this.pausedNow = false;
      // A pause left to a debugger needs the resumer thread (one can only attach where it runs).
      const holder = this.resumer?.live() ? this.resumer : null;
      if (client && holder) {
        // Resumed by the client (a step, its resume), or, should it have gone, after holdMs (under workerTimeout).
        this.opts.log.debug({ location: top0?.location }, `Probes: a pause here is a DevTools client's too (its breakpoint or step): left to it, resumed by it or in ${Math.round(this.opts.holdMs / 1000)} s`);
        holder.request(Math.max(hold, this.opts.holdMs));
      } else if (hold > 0 && holder) holder.request(hold);
      else {
        // Counted against the budget when the thread runs again (Debugger.resumed).
        this.ours = { mark, hit };
        this.resumePause();
      }
    }
  }

  /** Whether a DevTools client's breakpoint condition holds at the paused frame (one that would write, or cannot be checked, is taken to). */
  private clientCondition(callFrameId: string, condition: string): boolean {
    try {
      const r = this.reads.evaluate(callFrameId, `!!(${condition}\n)`);
      if (r.exceptionDetails) return SIDE_EFFECT.test(r.exceptionDetails.exception?.description ?? '');
      return r.result.value === true;
    } catch {
      return true;
    }
  }




  private sideEffect(armed: Armed, what: string, expression: string, message: string): void {
    const err = new TspumaError('TSPUMA_ERR_PROBE_SIDE_EFFECT', { id: armed.spec.id, location: armed.where, what, expression, message });
    this.opts.log.warn({ probe: armed.spec.id, code: err.code }, err.message);
    this.disarm(armed.spec.id);
    this.event(armed.spec.id, { event: 'removed', code: err.code, message: err.message });
  }

  private event(id: number, e: Parameters<typeof this.eventMessage>[1]): void {
    this.opts.send(this.eventMessage(id, e));
  }

  private eventMessage(id: number, e: ProbeEvent): WorkerMessage {
    return { tspuma: 1, type: 'probe-event', index: this.opts.worker, id, ...e };
  }

  /** The site of `armed` whose breakpoint this pause is at. */
  private siteHit(armed: Armed, params: Paused): Site | null {
    for (const b of params.hitBreakpoints ?? []) {
      const site = this.siteOf.get(b);
      if (site?.probes.has(armed)) return site;
    }
    return null;
  }

  /**
   * An expression as the compiled code at the site names its bindings: a parameter or local the
   * compiler renamed (esbuild's `discounts2` for a `discounts` that shadows a module constant) is
   * read under the name the .ts source gives it, as dumps show it (diagnostics/frames.ts).
   */
  private compiledNames(site: Site | null, top: Paused['callFrames'][number], expr: string): string {
    if (!site) return expr;
    if (site.renames === null) {
      site.renames = new Map();
      const scriptId = top.location.scriptId;
      const url = this.scripts.get(scriptId)?.url ?? top.url ?? '';
      const scripts = new Map<string, ScriptInfo>();
      const s = this.scripts.get(scriptId);
      if (s) scripts.set(scriptId, { url: s.url, ...(s.sourceMapURL ? { sourceMapURL: s.sourceMapURL } : {}) });
      const source = () => this.scriptSource(scriptId);
      for (const scope of top.scopeChain) {
        if ((scope.type !== 'local' && scope.type !== 'block' && scope.type !== 'closure' && scope.type !== 'catch') || !scope.object.objectId) continue;
        const { result } = this.post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
        for (const p of result) {
          if (!/\d$/.test(p.name)) continue;
          const named = this.reader.sourceName(top, scope, p.name, url, { scripts, source });
          if (named !== p.name && !site.renames.has(named)) site.renames.set(named, p.name);
        }
      }
    }
    return renameIdentifiers(expr, site.renames);
  }

  /** A script's source as loaded (a live edit's guards are not in it: a snapshot shows the app's own lines). */
  private scriptSource(scriptId: string): string | null {
    const original = this.edits.original(scriptId);
    if (original !== null) return original;
    try {
      return this.post<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId }).scriptSource;
    } catch {
      return null;
    }
  }

  /** One hit that paused; how long the thread stays paused for a debugger (replay's stop), else 0. */
  private onHit(armed: Armed, params: Paused, site: Site | null): number {
    const spec = armed.spec;
    const top = params.callFrames[0]!;
    const found = this.reads.requestOf(params.callFrames);
    const request = found?.req ?? null;
    const requestId = idOf(request);
    // Replay's probes stop only for the request it sent.
    if (spec.requestId !== null && requestId !== spec.requestId) return 0;
    armed.paused++;
    armed.pendingPaused++;
    const done = spec.hits !== null && armed.paused >= spec.hits;
    if (done) this.removeBreakpoints(armed);
    if (spec.kind === 'log') {
      const wrote = this.output.logLine(armed, (expr) => this.compiledNames(site, top, expr), params.callFrames, requestId, found);
      if (wrote) this.sideEffect(armed, 'template expression', wrote.expr, wrote.message);
    }
    else if (spec.kind === 'snapshot' || (spec.kind === 'break' && !spec.attached.includes(this.opts.worker))) this.output.snapshot(armed, params.callFrames, request, requestId);
    else if (spec.kind === 'break') {
      const hold = Math.max(1000, Math.min(spec.expiresAt - Date.now(), this.opts.holdMs));
      this.opts.log.warn(
        { probe: spec.id, request: requestId, location: armed.where, holdMs: hold },
        `Probe ${spec.id}: worker ${this.opts.worker} (PID: ${process.pid}) stopped at ${armed.where} for request ${requestId ?? '(none found)'}; it stays paused until the attached debugger resumes it, at most ${Math.round(hold / 1000)} s (then it resumes by itself, before workerTimeout)`,
      );
      this.flush();
      this.event(spec.id, { event: 'paused', requestId });
      return hold;
    }
    return 0;
  }












  /** A pause against the budget (probe-budget.ts); past it, the probe that took most of the window is suspended. */
  private spend(mark: PauseMark, hit: Armed[]): void {
    const over = this.budget.spend(mark, hit, (a) => !a.suspended && this.probes.has(a.spec.id));
    if (over) this.suspend(over.probe, `probes kept it paused ${over.spent} ms within one second, ${over.share} ms of it for this one`, over.spent);
  }

  /** No more pauses or passes of this probe here: its breakpoints go; the line and the primary say why. */
  private suspend(armed: Armed, why: string, ms: number): void {
    armed.suspended = true;
    this.removeBreakpoints(armed);
    const err = new TspumaError('TSPUMA_ERR_PROBE_BUDGET', { id: armed.spec.id, location: armed.where, worker: this.opts.worker, why, budget: this.opts.budgetMs });
    this.opts.log.warn({ probe: armed.spec.id, code: err.code, pausedMs: ms }, err.message);
    this.event(armed.spec.id, { event: 'suspended', ms, code: err.code, message: err.message });
  }

  /**
   * Hit counts since the last report, to the primary (it sums them and enforces --hits); with
   * `seq` (a probe-flush asked for them: list and rm answer with current counts) sent even when
   * there are none.
   */
  flush(seq?: number): void {
    const hits: [number, number, number][] = [];
    for (const armed of this.probes.values()) {
      if (armed.pendingHits === 0 && armed.pendingPaused === 0) continue;
      hits.push([armed.spec.id, armed.pendingHits, armed.pendingPaused]);
      armed.pendingHits = 0;
      armed.pendingPaused = 0;
    }
    if (hits.length > 0 || seq !== undefined) this.opts.send({ tspuma: 1, type: 'probe-hits', index: this.opts.worker, hits, ...(seq !== undefined ? { flushed: seq } : {}) });
  }

  /** Disarms everything and ends the session; resolves once the resumer thread is gone too. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.report);
    this.flush();
    for (const id of [...this.probes.keys()]) this.disarm(id);
    // Guards V8 could not take out yet stay, their gate gone (typeof): restored now where it can.
    this.edits.close();
    try {
      this.session.disconnect();
    } catch {
      /* gone */
    }
    delete (globalThis as Record<string, unknown>)[PROBE_GATE_KEY];
    const g = globalThis as Record<symbol, unknown>;
    if (g[kProbesAttachable] === this.onAttachable) {
      if (this.attachableSeen) g[kProbesAttachable] = true;
      else delete g[kProbesAttachable];
    }
    return this.resumer?.close() ?? Promise.resolve();
  }
}


/** The function a calibration's breakpoint sits in: its loop body, the fourth line, as on a probed loop's line. */
function calibrationTarget(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += i % 7;
  }
  return s;
}


/**
 * The line a probe stops at in the file as it is on disk now (what a worker loads): its line when
 * that still reads as when the probe was set, else the nearest line that does (a deploy moved it),
 * else gone, with what its line reads now (null: past the end).
 */
export function findLine(spec: Pick<ProbeSpec, 'file' | 'line' | 'lineText'>, read: (file: string) => string = (f) => readFileSync(f, 'utf8')): { line: number } | { gone: string | null } {
  if (spec.lineText === null || spec.lineText === undefined) return { line: spec.line };
  let lines: string[];
  try {
    lines = read(spec.file).split('\n').map((l) => l.replace(/\r$/, ''));
  } catch {
    return { line: spec.line };
  }
  if (lines[spec.line - 1] === spec.lineText) return { line: spec.line };
  const want = spec.lineText.trim();
  let best: number | null = null;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== want) continue;
    if (best === null || Math.abs(i + 1 - spec.line) < Math.abs(best - spec.line)) best = i + 1;
  }
  return best !== null ? { line: best } : { gone: lines[spec.line - 1] ?? null };
}


/** A source line for a message: trimmed, at most 80 characters. */
function clip(text: string): string {
  const t = text.trim();
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

/** A path relative to the working directory, as locations are shown. */
function relative(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}




