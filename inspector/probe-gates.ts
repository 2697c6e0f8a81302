// The probe engine's gates (inspector/probes.ts): the functions a probed line calls at every
// pass, from V8's breakpoint condition or from the guard live edit compiled into the script, in
// the app's own frame, as the global __tspumaProbe. They count the hit and decide, before any
// pause, whether it may pause: the passes' own cost against the pause budget (counted), the
// rate limit, the hits left, the expiry and suspension (pass), a compiled `--when`'s value
// (whenGate). The probes let through are the next pause's (take). Cheap: no allocation on a
// pass that says no. Also the calibration of what a pass costs here, measured at start.
import type { Logger } from 'pino';
import type { PropertyDescriptor, RemoteObject } from '../diagnostics/frames.js';
import { PROBE_GATE_KEY, v8Condition } from '../server/probe-spec.js';
import type { Armed, Site } from './probe-armed.js';
import type { PauseBudget } from './probe-budget.js';
import { UNDECIDED, chainEnd, primitive, read, readOptional, takeWhen } from './probe-when-gate.js';

/** Calls timed to measure what a pass of a probed line costs, and the bounds put on the measure. */
const CALIBRATION_PASSES = 40;
const DEFAULT_PASS_COST_MS = 0.25;
const MIN_PASS_COST_MS = 0.005;
/** Passes per second a probe always gets (a line a request passes once, at a few hundred requests a second). */
const MIN_PASSES = 200;

/**
 * The last measure in this process, and how long it is reused: a worker's engine starts with its
 * first probe and closes with its last, and measuring again at each start cost 4 ms at the first and
 * more at each (24 ms at the 40th: V8 keeps something of each conditional breakpoint's evaluation).
 */
let measured: { at: number; passCostMs: number } | null = null;
const MEASURE_REUSE_MS = 10 * 60_000;

/** What the gates read of the engine. */
export interface GateHost {
  probes: ReadonlyMap<number, Armed>;
  /** Live-edit guards by number (probe-live-edit.ts). */
  guarded: ReadonlyMap<number, Site>;
  budget: PauseBudget<Armed>;
  /** probePauseBudget: ms per second. */
  budgetMs: number;
  post<T = unknown>(method: string, params?: object): T;
  log: Logger;
  /**
   * A logpoint whose template the guard computed (probe-live-edit.ts): writes its line with no
   * pause; false when it cannot here (no request context names the hit), for the pause to.
   */
  logNow?(armed: Armed, site: Site, values: unknown[]): boolean;
}

export class ProbeGates {
  /** The probes whose gate let the current hit pause the thread. */
  private admitted: Armed[] = [];
  /** Of those, the ones a compiled `--when` admitted: decided true there, or undecided (V8 evaluates it at the pause). */
  private admittedWhen = new Map<Armed, 'decided' | 'undecided'>();
  /** The site whose guard asked for the coming pause. */
  private guardPending: Site | null = null;
  /** A value a computed template hands to V8 (gate.v() evaluated), for the moment it is described. */
  held: unknown = undefined;

  constructor(private readonly host: GateHost) {}

  /** What one pass of a probed line costs here (a breakpoint condition V8 evaluates), in ms: measured at start. */
  passCostMs = DEFAULT_PASS_COST_MS;
  /** Passes per second per probe the pause budget allows at that cost (fewer when runs come back to back and cost more). */
  maxPasses = 0;

  /**
   * Puts the gate on globalThis: a named global (not enumerable), which a condition reads with one
   * global lookup, where `globalThis[Symbol.for(…)]` cost every pass about 100,000 more
   * instructions (bench/README.md). A compiled `--when` (probe-when-compile.ts) reads through
   * r/o/c/p and ends at w.
   */
  install(): void {
    const gate = Object.assign((id: number, check?: 1) => this.gate(id, check), {
      n: (id: number) => this.counted(id),
      e: (n: number) => this.guardGate(n),
      f: (n: number) => this.host.guarded.has(n) && takeWhen() >= 0,
      w: (n: number, id: number, value: unknown) => this.whenGate(n, id, value),
      a: (n: number, id: number) => this.templatePass(n, id),
      t: (n: number, id: number, values: unknown[]) => this.templateGate(n, id, values),
      v: () => this.held,
      r: read,
      o: readOptional,
      c: chainEnd,
      p: primitive,
      U: UNDECIDED,
    });
    Object.defineProperty(globalThis, PROBE_GATE_KEY, { value: gate, enumerable: false, configurable: true, writable: false });
  }

  uninstall(): void {
    delete (globalThis as Record<string, unknown>)[PROBE_GATE_KEY];
  }

  /** The probes let through for the pause now beginning, and how a compiled `--when` let each through; cleared for the next. */
  take(): { hit: Armed[]; how: Map<Armed, 'decided' | 'undecided'> } {
    const hit = this.admitted;
    this.admitted = [];
    const how = this.admittedWhen;
    if (how.size > 0) this.admittedWhen = new Map();
    return { hit, how };
  }

  /** The site whose guard asked for the pause now beginning (null: none did); cleared. */
  takeGuard(): Site | null {
    const site = this.guardPending;
    this.guardPending = null;
    return site;
  }

  /**
   * Times CALIBRATION_PASSES calls of a function of this module under a breakpoint whose condition
   * is false (nothing pauses): what a pass of a probed line costs on this machine now (the measure
   * of an engine started within MEASURE_REUSE_MS before, in this process, is taken as it is).
   */
  calibrate(): void {
    if (measured !== null && performance.now() - measured.at < MEASURE_REUSE_MS) {
      this.passCostMs = measured.passCostMs;
      this.maxPasses = Math.max(MIN_PASSES, Math.floor(this.host.budgetMs / this.passCostMs));
      return;
    }
    try {
      const g = globalThis as Record<symbol, unknown>;
      const key = Symbol.for('tspuma.probe.calibrate');
      g[key] = calibrationTarget;
      const { result } = this.host.post<{ result: RemoteObject }>('Runtime.evaluate', { expression: `globalThis[Symbol.for('tspuma.probe.calibrate')]` });
      delete g[key];
      const { internalProperties } = this.host.post<{ internalProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId: result.objectId!, ownProperties: true });
      const at = internalProperties?.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as { scriptId: string; lineNumber: number; columnNumber: number } | undefined;
      if (!at) return;
      const { breakpointId } = this.host.post<{ breakpointId: string }>('Debugger.setBreakpoint', { location: { scriptId: at.scriptId, lineNumber: at.lineNumber + 3, columnNumber: 0 }, condition: v8Condition({ id: -1, when: null }) });
      // On the budget's clock: time the thread waited for a CPU meanwhile is not a pass's cost.
      const started = this.host.budget.own();
      calibrationTarget(CALIBRATION_PASSES);
      const perPass = (this.host.budget.own() - started) / CALIBRATION_PASSES;
      this.host.post('Debugger.removeBreakpoint', { breakpointId });
      this.passCostMs = Math.max(MIN_PASS_COST_MS, perPass);
      measured = { at: performance.now(), passCostMs: this.passCostMs };
    } catch (err) {
      this.host.log.debug({ err }, `Probes: the cost of a pass could not be measured; ${DEFAULT_PASS_COST_MS} ms assumed`);
    } finally {
      this.maxPasses = Math.max(MIN_PASSES, Math.floor(this.host.budgetMs / this.passCostMs));
    }
  }

  /** Called by a guard at every pass of its line: counts a hit of each probe there; true (pause) when one may log or snapshot. */
  guardGate(n: number): boolean {
    const site = this.host.guarded.get(n);
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
  whenGate(n: number, id: number, value: unknown): boolean {
    const met = takeWhen();
    const site = this.host.guarded.get(n);
    const armed = this.host.probes.get(id);
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

  /**
   * Called by a guard before it computes a compiled template's values (probe-live-edit.ts): counts
   * the hit and says whether it may log (rate limit, hits left, expiry, suspension), as a hit that
   * pauses is gated; the values are computed only when it may.
   */
  templatePass(n: number, id: number): boolean {
    const site = this.host.guarded.get(n);
    const armed = this.host.probes.get(id);
    if (!site || !armed || armed.suspended || !site.probes.has(armed)) return false;
    takeWhen();
    return this.pass(armed);
  }

  /**
   * Called by the guard with the template's values, computed in the app's frame by the compiled
   * subset (no getter, no proxy, no call: the app's code never ran for them): the line is written
   * with no pause. Values it could not decide, or a read the source would throw at, or a hit no
   * request context names: a pause, where V8 reads the template as it does for any hit.
   */
  templateGate(n: number, id: number, values: unknown[]): boolean {
    const met = takeWhen();
    const site = this.host.guarded.get(n);
    const armed = this.host.probes.get(id);
    if (!site || !armed || !site.probes.has(armed)) return false;
    if (met === 0 && !values.includes(UNDECIDED) && this.host.logNow?.(armed, site, values)) return false;
    this.admitted.push(armed);
    this.guardPending = site;
    return true;
  }

  /**
   * Called by V8 first in the breakpoint's condition, at every pass of the line: a pass costs the
   * thread a condition evaluation (passCostMs) whether or not it pauses, so a probe whose passes
   * within one second cost more than the pause budget asks for one pause (true), where it is
   * suspended. A probe on an inner loop's line is stopped within the budget, not when the loop ends.
   */
  counted(id: number): boolean {
    const armed = this.host.probes.get(id);
    if (!armed || armed.suspended || armed.overrun) return false;
    const now = performance.now();
    // A window is one second of the budget's clock (probe-budget.ts), read once a wall second has
    // passed: on a loaded machine a loop runs fewer passes a wall second, not fewer a second of its own.
    if (now - armed.passWindow >= 1000) {
      const own = this.host.budget.own();
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
    if (armed.passes * armed.passCost <= this.host.budgetMs) return false;
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
  gate(id: number, check?: 1): boolean {
    const armed = this.host.probes.get(id);
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
  pass(armed: Armed): boolean {
    const spec = armed.spec;
    armed.pendingHits++;
    if (spec.kind === 'count' || armed.suspended) return false;
    const now = Date.now();
    if (now > spec.expiresAt || (spec.hits !== null && armed.paused >= spec.hits)) return false;
    return spec.kind === 'break' || armed.limit.take();
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
