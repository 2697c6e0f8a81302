// A worker's probes (loaded on the first probe the primary sends; never before): an in-process
// inspector session (no port) on which V8 announces scripts and pauses. This module is the
// engine's hub and its pause handling: it takes the primary's probe-set and probe-rm, hands the
// placing of probes to probe-arming.ts (on sites: probe-sites.ts, one V8 breakpoint or live-edit
// guard per place), and handles each pause: a probe's hit (the gates of probe-gates.ts let it
// through: rate limit, hits, expiry, suspension, so a false condition or a hit over the rate
// never pauses), a DevTools client's own pause beside it (probe-devtools.ts), V8's out-of-memory
// pause and an app's stray `debugger` (resumed). A logpoint's hit evaluates its template with
// V8's side-effect check and writes one line, a snapshot reads every frame like a failure dump
// (probe-output.ts), replay's breakpoint leaves the thread paused for the debugger attached. Paused
// time per second is budgeted (probe-budget.ts); pauses are resumed in-process, or through the
// resumer thread where a session from outside can attach (probe-resumer.ts). What the engine keeps
// per probe and site: probe-armed.ts.
import inspector from 'node:inspector';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { FrameReader, type PropertyDescriptor, type RemoteObject, type ScriptInfo } from '../diagnostics/frames.js';
import { Redactor } from '../diagnostics/redact.js';
import { TspumaError } from '../server/errors.js';
import { ownWork } from '../server/own-work.js';
import type { PrimaryMessage, WorkerMessage, ProbeArmState, ProbeEvent } from '../server/cluster/messages.js';
import type { FoundRequest } from '../server/app-calls.js';
import { PROBE_GATE_KEY, renameIdentifiers, type ProbeSpec } from '../server/probe-spec.js';
import type { LoadedScript } from './probe-locations.js';
import { Resumption } from './probe-resumer.js';
import { clientWants } from './probe-devtools.js';
import { PauseBudget, processMeter, tenthUp, type PauseMark, type PauseMeter } from './probe-budget.js';
import { LiveEdits } from './probe-live-edit.js';
import { WhenChecks } from './probe-when-checks.js';
import { ProbeOutput, computedReads, identifiers, pausedReads } from './probe-output.js';
import { ProbeGates } from './probe-gates.js';
import { ProbeSites } from './probe-sites.js';
import { ProbeArming } from './probe-arming.js';
import type { Armed, Paused, Site } from './probe-armed.js';
import { FrameReads, SIDE_EFFECT, decodeChunkMaps, idOf } from './probe-frame-reads.js';

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
  /** How long a removed probe's guard stays in the code (probe-live-edit.ts RESTORE_AFTER_MS); for tests. */
  restoreAfterMs?: number;
  now?: () => number;
  /** The clocks the pause budget reads (probe-budget.ts). */
  meter?: PauseMeter;
}


const REPORT_MS = 1000;
/** URL prefix of this folder's compiled files: a pause in them is never a probe's. */
const OWN_URL = new URL('./', import.meta.url).href;
export class ProbeEngine {
  private readonly session = new inspector.Session();
  private readonly scripts = new Map<string, LoadedScript>();
  private readonly probes = new Map<number, Armed>();
  /** Where the probes are armed (probe-sites.ts). */
  private readonly sites: ProbeSites;
  /** Places probes in the loaded scripts (probe-arming.ts). */
  private readonly arming: ProbeArming;
  /** The gates a probed line calls at each pass (probe-gates.ts). */
  private readonly gates: ProbeGates;
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
  /** The pause of ours in progress: when it began and which probes it was for. */
  private ours: { mark: PauseMark; hit: Armed[] } | null = null;
  /** When the pause being handled began (its line says how long the thread was held). */
  private pauseStarted = 0;
  /** Live edit (probe-live-edit.ts), and the site whose guard asked for the coming pause. */
  private readonly edits: LiveEdits<Site>;
  /** `--when` checked with the side-effect check (probe-when-checks.ts). */
  private readonly whens: WhenChecks<Armed, Site>;
  /** Arming probes in a script just parsed (onScript): no live edit then. */
  private parsing = false;
  /** In a Debugger.paused handler of ours (no live edit then). */
  private pausedNow = false;

  /** Milliseconds since the pause began, to 0.01 ms. */
  private heldMs(): number {
    return Math.round((this.now() - this.pauseStarted) * 100) / 100;
  }

  /**
   * Starts the engine; first, in a process a session from outside its thread can reach, the
   * resumer thread (probe-resumer.ts: Resumption).
   */
  static async start(opts: ProbeEngineOptions): Promise<ProbeEngine> {
    const engine = new ProbeEngine(opts, await Resumption.start(opts.devtools === true, opts.log));
    engine.gates.calibrate();
    decodeChunkMaps();
    return engine;
  }

  /** The resumer thread: none (pauses resumed in-process), starting, or live (it resumes every pause). */
  get resumerThread(): 'none' | 'starting' | 'live' {
    return this.resumption.thread;
  }

  private constructor(
    private readonly opts: ProbeEngineOptions,
    private readonly resumption: Resumption,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.budget = new PauseBudget(opts.budgetMs, opts.meter ?? processMeter);
    this.redactor = new Redactor(opts.redact);
    this.reader = new FrameReader(this.redactor);
    this.edits = new LiveEdits<Site>({
      post: (method, params) => this.post(method, params), log: opts.log, liveEdit: opts.liveEdit === true, devtoolsMayAttach: () => this.devtoolsMayAttach(),
      ...(opts.restoreAfterMs !== undefined ? { restoreAfterMs: opts.restoreAfterMs } : {}),
      pausedNow: () => this.pausedNow, parsing: () => this.parsing, closed: () => this.closed, scripts: this.scripts, scriptSource: (id) => this.scriptSource(id),
      edited: (scriptId) => {
        for (const site of this.sites.byKey.values()) if (site.scriptId === scriptId && site.breakpointId !== null) this.sites.setBreakpoint(site, [...site.probes]);
      },
    });
    this.sites = new ProbeSites({ post: (method, params) => this.post(method, params), edits: this.edits });
    this.arming = new ProbeArming({
      worker: opts.worker, log: opts.log, probes: this.probes, scripts: this.scripts, sites: this.sites, edits: this.edits, now: this.now, post: (method, params) => this.post(method, params),
      state: (id, st) => this.state(id, st), event: (id, e) => this.event(id, e), disarm: (id) => this.disarm(id),
    });
    this.reads = new FrameReads({ post: (method, params) => this.post(method, params), requestNow: opts.requestNow, requestUntracked: opts.requestUntracked });
    this.whens = new WhenChecks<Armed, Site>({
      reads: this.reads, log: opts.log, worker: opts.worker, compiledNames: (site, top, expr) => this.compiledNames(site, top, expr), rearm: (site) => this.sites.rearm(site),
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
    this.gates = new ProbeGates({
      probes: this.probes, guarded: this.edits.guarded, budget: this.budget, budgetMs: opts.budgetMs, post: (method, params) => this.post(method, params), log: opts.log,
      logNow: (armed, _site, values) => this.logNow(armed, values),
    });
    this.gates.install();
    this.session.connect();
    // Scripts are announced synchronously as they are parsed, before they run: a probe on a
    // file not loaded yet is armed here, so even its top-level code stops.
    this.session.on('Debugger.scriptParsed', (m: { params: { scriptId: string; url: string; sourceMapURL?: string; isModule?: boolean } }) => this.onScript(m.params));
    this.session.on('Debugger.paused', (m: { params: Paused }) => ownWork('a probe hit (its values read while paused)', () => this.onPaused(m.params)));
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

  /** Guards of removed probes still in the app's code: restored RESTORE_AFTER_MS after the last removal, then each second while V8 refuses (probe-live-edit.ts). */
  get editsPending(): boolean {
    return this.edits.pending;
  }

  /** What a pass of a probed line costs here (ms), and the passes a second the budget allows at that cost (probe-gates.ts). */
  get passCostMs(): number {
    return this.gates.passCostMs;
  }

  get maxPasses(): number {
    return this.gates.maxPasses;
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
    this.arming.arm(spec);
  }

  /** A DevTools client may attach to this process (--inspect, or an inspector opened since): no live edit, no skipping of `debugger`. */
  private devtoolsMayAttach(): boolean {
    return this.opts.devtools === true || inspector.url() !== undefined;
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
    const site = this.gates.takeGuard();
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
      this.arming.armParsed(script);
    } finally {
      this.parsing = false;
    }
  }

  disarm(id: number): void {
    const armed = this.probes.get(id);
    if (!armed) return;
    this.probes.delete(id);
    this.sites.removeBreakpoints(armed);
  }

  private onPaused(params: Paused): void {
    const guardSite = this.guardHit(params);
    const ours = guardSite !== null || (params.hitBreakpoints ?? []).some((b) => this.sites.has(b));
    const { hit, how } = this.gates.take();
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
      if (params.reason === 'OOM' || this.strayDebugger(params)) this.resumption.resume(() => this.post('Debugger.resume'));
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
      const sites = new Map(hit.map((armed) => [armed, guardSite ?? this.sites.siteHit(armed, params)]));
      for (const armed of hit) {
        if (!this.probes.has(armed.spec.id)) continue;
        if (armed.overrun) {
          const ms = tenthUp(armed.passes * armed.passCost);
          this.suspend(armed, `its line ran ${armed.passes} times within one second, each run a breakpoint condition V8 evaluates (about ${Math.round(armed.passCost * 1000) / 1000} ms each here: ${ms} ms)`, ms);
          continue;
        }
        const site = sites.get(armed) ?? null;
        // A compiled `--when` that could not decide: V8 evaluates the source, checked, then (if it held) counted.
        if (how.get(armed) === 'undecided') {
          if (!(site && this.whens.decide(armed, site, top, params.callFrames) && this.gates.pass(armed))) continue;
        }
        // The first pass at this place: `when` checked, then (if it held) counted as V8 would have.
        else if (how.get(armed) !== 'decided' && armed.spec.when !== null && site && !armed.whenAt.has(site.key) && !(this.whens.check(armed, site, top, params.callFrames) && this.gates.pass(armed))) continue;
        hold = Math.max(hold, this.onHit(armed, params, site));
      }
    } catch (err) {
      this.opts.log.warn({ err }, `Probe hit could not be handled: ${(err as Error).message}`);
    } finally {
      this.pausedNow = false;
      // A pause left to a debugger needs the resumer thread (one can only attach where it runs).
      const holder = this.resumption.holder();
      if (client && holder) {
        // Resumed by the client (a step, its resume), or, should it have gone, after holdMs (under workerTimeout).
        this.opts.log.debug({ location: top0?.location }, `Probes: a pause here is a DevTools client's too (its breakpoint or step): left to it, resumed by it or in ${Math.round(this.opts.holdMs / 1000)} s`);
        holder.request(Math.max(hold, this.opts.holdMs));
      } else if (hold > 0 && holder) holder.request(hold);
      else {
        // Counted against the budget when the thread runs again (Debugger.resumed).
        this.ours = { mark, hit };
        this.resumption.resume(() => this.post('Debugger.resume'));
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

  /**
   * An expression as the compiled code at the site names its bindings: a parameter or local the
   * compiler renamed (esbuild's `discounts2` for a `discounts` that shadows a module constant) is
   * read under the name the .ts source gives it, as dumps show it (diagnostics/frames.ts).
   */
  private compiledNames(site: Site | null, top: Paused['callFrames'][number], expr: string): string {
    if (!site) return expr;
    const renames = (site.renames ??= new Map());
    const looked = (site.renamesLooked ??= new Set());
    // Only bindings that can be a renaming of a name the expression uses (esbuild appends a number:
    // `req` -> `req2`) are looked up, each name once per site: a chunk of tspuma's build has
    // hundreds of digit-ending bindings in scope (its imports get2 … get140), and looking up every
    // one held a first hit in server/request-lifecycle.ts ~185 ms (the pause budget is 200 ms a second).
    const wanted = [...new Set(identifiers(expr))].filter((id) => !looked.has(id));
    if (wanted.length > 0) {
      for (const id of wanted) looked.add(id);
      const renamedFrom = (name: string) => wanted.some((id) => name.length > id.length && name.startsWith(id) && /^\d+$/.test(name.slice(id.length)));
      const scriptId = top.location.scriptId;
      const url = this.scripts.get(scriptId)?.url ?? top.url ?? '';
      const scripts = new Map<string, ScriptInfo>();
      const s = this.scripts.get(scriptId);
      if (s) scripts.set(scriptId, { url: s.url, ...(s.sourceMapURL ? { sourceMapURL: s.sourceMapURL } : {}) });
      // Fetched once for all the names (each Debugger.getScriptSource of a ~200 KB chunk took ~100 ms).
      let text: string | null | undefined;
      const source = () => (text === undefined ? (text = this.scriptSource(scriptId)) : text);
      for (const scope of top.scopeChain) {
        if ((scope.type !== 'local' && scope.type !== 'block' && scope.type !== 'closure' && scope.type !== 'catch') || !scope.object.objectId) continue;
        const { result } = this.post<{ result: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
        for (const p of result) {
          if (!renamedFrom(p.name)) continue;
          const named = this.reader.sourceName(top, scope, p.name, url, { scripts, source });
          if (named !== p.name && !renames.has(named)) renames.set(named, p.name);
        }
      }
    }
    return renameIdentifiers(expr, renames);
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
    if (done) this.sites.removeBreakpoints(armed);
    if (spec.kind === 'log') {
      const wrote = this.output.logLine(armed, pausedReads(this.reads, params.callFrames, (expr) => this.compiledNames(site, top, expr)), requestId, found);
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












  /**
   * A logpoint's hit whose template values the guard computed (probe-gates.ts templateGate): its
   * line written as a paused hit's is (the same rendering and redaction, the same request, counted
   * the same), with no pause; the time it held the thread is charged to the pause budget. False
   * (the guard pauses, and the hit is read at the pause) when no request context names the hit:
   * the paused frames may hold its request.
   */
  private logNow(armed: Armed, values: unknown[]): boolean {
    if (this.closed || this.pausedNow || !this.probes.has(armed.spec.id)) return false;
    const req = this.opts.requestNow?.() ?? null;
    if (!req) return false;
    const mark = this.budget.mark();
    this.pauseStarted = this.now();
    // As during a pause: an edit asked for now (its --hits reached: the guard goes) waits until the
    // guard's function has returned (V8 refuses to edit a function on the stack).
    this.pausedNow = true;
    try {
      armed.paused++;
      armed.pendingPaused++;
      if (armed.spec.hits !== null && armed.paused >= armed.spec.hits) this.sites.removeBreakpoints(armed);
      const group = 'tspuma-probe-line';
      let handed = false;
      try {
        const reads = computedReads(armed.parts, values, (value) => {
          handed = true;
          this.gates.held = value;
          return this.post<{ result: RemoteObject }>('Runtime.evaluate', { expression: `${PROBE_GATE_KEY}.v()`, objectGroup: group, generatePreview: true, silent: true }).result;
        });
        this.output.logLine(armed, reads, idOf(req), { req });
      } finally {
        this.gates.held = undefined;
        // Each inspector call is a round trip through the session's JSON: only when one was made.
        if (handed) this.post('Runtime.releaseObjectGroup', { objectGroup: group });
      }
    } catch (err) {
      this.opts.log.warn({ err, probe: armed.spec.id }, `Probe hit could not be handled: ${(err as Error).message}`);
    } finally {
      this.pausedNow = false;
    }
    this.spend(mark, [armed]);
    return true;
  }

  /** A pause against the budget (probe-budget.ts); past it, the probe that took most of the window is suspended. */
  private spend(mark: PauseMark, hit: Armed[]): void {
    const over = this.budget.spend(mark, hit, (a) => !a.suspended && this.probes.has(a.spec.id));
    if (over) this.suspend(over.probe, `probes kept it paused ${over.spent} ms within one second, ${over.share} ms of it for this one`, over.spent);
  }

  /** No more pauses or passes of this probe here: its breakpoints go; the line and the primary say why. */
  private suspend(armed: Armed, why: string, ms: number): void {
    armed.suspended = true;
    this.sites.removeBreakpoints(armed);
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

  /**
   * Disarms everything and ends the session; resolves once the resumer thread is gone too. Guards
   * still in the app's code are taken out where V8 lets it, unless `stopping` (the process ends).
   */
  close(stopping = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.report);
    this.flush();
    for (const id of [...this.probes.keys()]) this.disarm(id);
    // Guards still in the code (left by removed probes, or V8 refused their restore) stay, their gate
    // gone (typeof): restored now where V8 lets it, unless the process is stopping.
    this.edits.close(!stopping);
    try {
      this.session.disconnect();
    } catch {
      /* gone */
    }
    this.gates.uninstall();
    return this.resumption.close();
  }
}
