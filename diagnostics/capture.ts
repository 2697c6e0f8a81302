// Created by diagnostics/index.ts when debug is on (never otherwise); pauses V8 at throw sites
// inside the server's phases through a same-thread inspector session and hands frames with
// receivers and locals to dumps.ts. Resume is guaranteed on every path.
import inspector from 'node:inspector';
import type { DumpPhase, Shown } from './model.js';
import type { Redactor } from './redact.js';
import { FrameReader, type CallFrame, type CapturedFrame, type PropertyDescriptor, type RemoteObject, type ScriptInfo } from './frames.js';

export type { CapturedFrame } from './frames.js';

interface PausedParams {
  reason: string;
  data?: RemoteObject;
  callFrames: CallFrame[];
}

export interface Capture {
  phase: DumpPhase;
  reason: string;
  site: string;
  frames: CapturedFrame[];
  redactions: string[];
}

export interface CaptureLimits {
  /** Frames per capture. */
  frames: number;
  /** A site is captured again only after this long. */
  perSiteMs: number;
  /** Pauses per second before pausing is switched off for a backoff. */
  globalPerSecond: number;
}

const OFF_DELAY_MS = 1000;
const THROWN = Symbol.for('tspuma.diagnostics.thrown');
/** URL prefix of this folder's compiled files. */
const OWN_URL = new URL('./', import.meta.url).href;

/**
 * Durations (ms) of the last `size` handled pauses, for the cost line printed at exit: what a
 * throw costs in debug mode, as measured in this process.
 */
export class Timings {
  private readonly ring: Float64Array;
  private count = 0;
  constructor(size = 4096) {
    this.ring = new Float64Array(size);
  }
  add(ms: number): void {
    this.ring[this.count++ % this.ring.length] = ms;
  }
  get n(): number {
    return this.count;
  }
  /** The q-quantile (0..1) of the kept durations; null when there are none. */
  quantile(q: number): number | null {
    const kept = this.ring.slice(0, Math.min(this.count, this.ring.length)).sort();
    return kept.length === 0 ? null : kept[Math.min(kept.length - 1, Math.floor(q * kept.length))]!;
  }
}

/** Thrown and caught on purpose to photograph the frames of a call site (listen). */
export class SnapshotMarker extends Error {}

export class Capturer {
  private readonly session = new inspector.Session();
  private active = 0;
  private pausing = false;
  private readonly phases: DumpPhase[] = [];
  private readonly sites = new Map<string, { last: number; repeats: number; key: string }>();
  /** Errors thrown again at an already-captured site -> that site's key (no new capture). */
  private readonly repeatSite = new WeakMap<object, string>();
  private readonly byError = new WeakMap<object, Capture>();
  private windowStart = 0;
  private windowCount = 0;
  private backoffMs = 1000;
  private backoffUntil = 0;
  private lastTrip = 0;
  private backoffTimer: NodeJS.Timeout | null = null;
  private lastSnapshot: Capture | null = null;
  readonly stats = { pauses: 0, captures: 0, repeats: 0, throttled: 0, failures: 0, trips: 0 };
  /** Pause to resume, for every pause this session handled, and for those that built a capture. */
  readonly pauseTimes = new Timings();
  readonly captureTimes = new Timings();

  constructor(
    private readonly limits: CaptureLimits,
    redactor: Redactor,
    private readonly onFailure: (err: unknown) => void,
  ) {
    this.reader = new FrameReader(redactor);
  }

  /** scriptId -> URL: CallFrame.url is empty in current V8, so scripts are tracked as they parse. */
  private readonly scripts = new Map<string, ScriptInfo>();
  private readonly reader: FrameReader;

  start(): void {
    this.session.connect();
    this.session.on('Debugger.scriptParsed', (message: { params: { scriptId: string; url: string } }) => {
      if (message.params.url) this.scripts.set(message.params.scriptId, { url: message.params.url });
    });
    this.post('Debugger.enable');
    this.post('Debugger.setPauseOnExceptions', { state: 'none' });
    this.session.on('Debugger.paused', (message: { params: PausedParams }) => this.onPaused(message.params));
  }

  stop(): void {
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    if (this.offTimer) clearTimeout(this.offTimer);
    try {
      this.post('Debugger.setPauseOnExceptions', { state: 'none' });
      this.session.disconnect();
    } catch {
      /* already gone */
    }
  }

  /** Same-thread sessions answer synchronously. */
  private post<T = unknown>(method: string, params?: object): T {
    let error: Error | null = null;
    let result: T | undefined;
    this.session.post(method, params ?? {}, (err: Error | null, res?: object) => {
      error = err;
      result = res as T;
    });
    if (error) throw error;
    return result as T;
  }

  private setPausing(on: boolean): void {
    if (on === this.pausing) return;
    this.post('Debugger.setPauseOnExceptions', { state: on ? 'all' : 'none' });
    this.pausing = on;
  }

  private refresh(): void {
    this.setPausing(this.active > 0 && performance.now() >= this.backoffUntil);
  }

  private offTimer: NodeJS.Timeout | null = null;
  /** Counts enters and leaves: the switch-off timer sees whether anything ran while it waited. */
  private activity = 0;

  /** A phase begins: throws inside it are captured until leave(). */
  enter(phase: DumpPhase): void {
    this.phases.push(phase);
    this.active++;
    this.activity++;
    if (this.active === 1 && !this.pausing) this.refresh();
  }

  /**
   * A phase ends. Pausing goes off once no phase has begun or ended for OFF_DELAY_MS (so between
   * one and two delays after the last one), not at once: under load, app calls come and go
   * constantly and toggling costs about 21 µs each time. One timer serves a whole busy period
   * (a timer per request measured several µs). Pauses while no phase is active are resumed at
   * once without a capture.
   */
  leave(): void {
    this.phases.pop();
    this.active--;
    this.activity++;
    if (this.active === 0 && this.pausing && !this.offTimer) this.armOff();
  }

  private armOff(): void {
    const seen = this.activity;
    this.offTimer = setTimeout(() => {
      this.offTimer = null;
      if (this.active > 0) return; // the leave() that brings it to 0 arms it again
      if (this.activity !== seen) this.armOff();
      else this.refresh();
    }, OFF_DELAY_MS);
    this.offTimer.unref();
  }

  /** Turns pausing off now if no phase is active and no delayed switch-off is pending. */
  private exitNow(): void {
    if (this.active === 0 && !this.offTimer) this.refresh();
  }

  /** Runs fn with capture on; pausing is restored on every path. */
  scope<T>(phase: DumpPhase, fn: () => T): T {
    const wasPausing = this.pausing;
    this.enter(phase);
    try {
      return fn();
    } finally {
      this.leave();
      // A synchronous phase that switched pausing on switches it off itself.
      if (!wasPausing && this.active === 0) {
        if (this.offTimer) clearTimeout(this.offTimer);
        this.offTimer = null;
        this.exitNow();
      }
    }
  }

  /** The capture taken when `err` was thrown, if it was thrown inside a phase and not throttled. */
  captureFor(err: unknown): Capture | undefined {
    return err !== null && typeof err === 'object' ? this.byError.get(err) : undefined;
  }

  /** Photographs the caller's frames with their values (used at listen(), whose errors arrive later). */
  snapshot(phase: DumpPhase): Capture | null {
    this.lastSnapshot = null;
    this.scope(phase, () => {
      try {
        throw new SnapshotMarker('snapshot');
      } catch {
        /* the pause handler took the photograph */
      }
    });
    return this.lastSnapshot;
  }

  /** The site key of an error thrown again where an earlier one was captured. */
  siteFor(err: unknown): string | undefined {
    return err !== null && typeof err === 'object' ? this.repeatSite.get(err) : undefined;
  }

  private trip(now: number): void {
    this.stats.trips++;
    if (now - this.lastTrip > 60_000) this.backoffMs = 1000;
    else this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
    this.lastTrip = now;
    this.backoffUntil = now + this.backoffMs;
    this.setPausing(false);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = setTimeout(() => this.refresh(), this.backoffMs);
    this.backoffTimer.unref();
  }

  private onPaused(params: PausedParams): void {
    // A pause this session did not ask for (a DevTools breakpoint, `tspuma inspect stack`, a
    // debugger statement) belongs to whoever asked: leave it paused.
    if (!this.pausing || (params.reason !== 'exception' && params.reason !== 'promiseRejection')) return;
    this.stats.pauses++;
    const started = performance.now();
    let built = false;
    // The deliberate throw that photographs a listen() call: not a failure, so not timed.
    const snapshot = params.data?.className === 'SnapshotMarker';
    try {
      // Every pause counts towards the budget, those between phases too (pausing stays on for
      // OFF_DELAY_MS after one): a library that throws and catches on each request would
      // otherwise cost about 1.6 ms per throw, forever.
      const now = performance.now();
      if (now - this.windowStart >= 1000) {
        this.windowStart = now;
        this.windowCount = 0;
      }
      if (++this.windowCount > this.limits.globalPerSecond) {
        this.stats.throttled++;
        this.trip(now);
        return;
      }
      if (this.active === 0) return;
      const top = params.callFrames[0];
      if (!top) return;
      const site = `${top.location.scriptId}:${top.location.lineNumber}:${top.location.columnNumber}`;
      if (!snapshot) {
        const seen = this.sites.get(site);
        if (seen && now - seen.last < this.limits.perSiteMs) {
          seen.repeats++;
          this.stats.repeats++;
          const thrown = this.thrownValue(params.data);
          if (thrown !== null && typeof thrown === 'object') this.repeatSite.set(thrown, seen.key);
          return;
        }
      }
      const capture = this.build(params);
      built = true;
      if (!snapshot) {
        if (this.sites.size > 10_000) this.sites.clear();
        this.sites.set(site, { last: now, repeats: this.sites.get(site)?.repeats ?? 0, key: capture.site });
      }
      this.stats.captures++;
      if (snapshot) {
        this.lastSnapshot = capture;
        return;
      }
      const thrown = this.thrownValue(params.data);
      if (thrown !== null && (typeof thrown === 'object' || typeof thrown === 'function')) this.byError.set(thrown, capture);
    } catch (err) {
      this.stats.failures++;
      this.onFailure(err);
    } finally {
      try {
        this.post('Debugger.resume');
      } catch (err) {
        this.onFailure(err);
      }
      if (!snapshot) {
        const ms = performance.now() - started;
        this.pauseTimes.add(ms);
        if (built) this.captureTimes.add(ms);
      }
    }
  }

  /** One line on what pausing cost in this process, or null if it never paused. */
  costLine(): string | null {
    if (this.pauseTimes.n === 0) return null;
    const f = (t: Timings) => `p50 ${t.quantile(0.5)!.toFixed(2)} ms, p99 ${t.quantile(0.99)!.toFixed(2)} ms`;
    const built = this.captureTimes.n > 0 ? `; ${this.captureTimes.n} built a capture: ${f(this.captureTimes)}` : '';
    return `tspuma: debug capture cost: ${this.pauseTimes.n} pause(s) at throws: ${f(this.pauseTimes)}${built}; ${this.stats.repeats} repeat(s) and ${this.stats.throttled} throttled (rate limit)`;
  }

  /** The thrown JS value itself, fetched through the protocol while paused. */
  private thrownValue(data: RemoteObject | undefined): unknown {
    if (!data?.objectId) return null;
    const g = globalThis as Record<symbol, unknown>;
    this.post('Runtime.callFunctionOn', {
      objectId: data.objectId,
      functionDeclaration: `function () { globalThis[Symbol.for('tspuma.diagnostics.thrown')] = this; }`,
    });
    const value = g[THROWN];
    delete g[THROWN];
    return value;
  }

  private build(params: PausedParams): Capture {
    const { frames, redactions } = this.reader.read(params.callFrames, {
      frames: this.limits.frames,
      scripts: this.scripts,
      skipUrl: OWN_URL, // the diagnostics layer's own frames (scope, snapshot)
      // The whole answer: a function's internal [[FunctionLocation]] names where it is defined.
      properties: (objectId) => this.post<{ result: PropertyDescriptor[]; internalProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId, ownProperties: true, generatePreview: true }),
    });
    const phase = this.phases[this.phases.length - 1] ?? 'app';
    const top = frames[0];
    return { phase, reason: params.reason, site: top ? `${top.file}:${top.line}` : phase, frames, redactions };
  }
}
