// Created by diagnostics/index.ts when debug is on (never otherwise); pauses V8 at throw sites
// inside the server's phases through a same-thread inspector session and hands frames with
// receivers and locals to dumps.ts. Resume is guaranteed on every path.
import inspector from 'node:inspector';
import type { DumpPhase, Shown } from './model.js';
import type { Redactor } from './redact.js';
import { original, isLibrary, type Original } from './sourcemap.js';

interface RemoteObject {
  type: string;
  subtype?: string;
  className?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
  objectId?: string;
  preview?: { overflow: boolean; properties: { name: string; type: string; value?: string; subtype?: string }[] };
}
interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
  scopeChain: { type: string; object: RemoteObject }[];
  this: RemoteObject;
}
interface PausedParams {
  reason: string;
  data?: RemoteObject;
  callFrames: CallFrame[];
}

export interface CapturedFrame extends Original {
  function: string;
  receiver: string;
  locals: Record<string, Shown>;
  library: boolean;
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

const MAX_LOCALS = 24;
const MAX_STRING = 160;
const MAX_PROPS = 8;
const OFF_DELAY_MS = 1000;
const SCOPES = new Set(['local', 'block', 'catch', 'closure']);
const THROWN = Symbol.for('tspuma.diagnostics.thrown');
/** URL prefix of this folder's compiled files. */
const OWN_URL = new URL('./', import.meta.url).href;

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

  constructor(
    private readonly limits: CaptureLimits,
    private readonly redactor: Redactor,
    private readonly onFailure: (err: unknown) => void,
  ) {}

  /** scriptId -> URL: CallFrame.url is empty in current V8, so scripts are tracked as they parse. */
  private readonly scripts = new Map<string, string>();

  start(): void {
    this.session.connect();
    this.session.on('Debugger.scriptParsed', (message: { params: { scriptId: string; url: string } }) => {
      if (message.params.url) this.scripts.set(message.params.scriptId, message.params.url);
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

  /** A phase begins: throws inside it are captured until leave(). */
  enter(phase: DumpPhase): void {
    this.phases.push(phase);
    this.active++;
    if (this.offTimer) {
      clearTimeout(this.offTimer);
      this.offTimer = null;
    }
    if (this.active === 1) this.refresh();
  }

  /**
   * A phase ends. Pausing goes off OFF_DELAY_MS after the last phase ends, not at once: under
   * load, app calls come and go constantly and toggling costs about 21 µs each time. Pauses
   * while no phase is active are resumed at once without a capture.
   */
  leave(): void {
    this.phases.pop();
    this.active--;
    if (this.active === 0 && this.pausing && !this.offTimer) {
      this.offTimer = setTimeout(() => {
        this.offTimer = null;
        this.refresh();
      }, OFF_DELAY_MS);
      this.offTimer.unref();
    }
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
    this.stats.pauses++;
    try {
      if (this.active === 0) return;
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
      const top = params.callFrames[0];
      if (!top) return;
      const snapshot = params.data?.className === 'SnapshotMarker';
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
      const capture = this.build(params, snapshot);
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
    }
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

  private build(params: PausedParams, snapshot: boolean): Capture {
    const redactions: string[] = [];
    const frames: CapturedFrame[] = [];
    for (const cf of params.callFrames) {
      if (frames.length >= this.limits.frames) break;
      const url = cf.url || this.scripts.get(cf.location.scriptId) || '';
      if (url.startsWith(OWN_URL)) continue; // the diagnostics layer's own frames (scope, snapshot)
      const where = original(url, cf.location.lineNumber, cf.location.columnNumber);
      const library = isLibrary(where.file);
      const index = frames.length;
      const locals: Record<string, Shown> = {};
      let count = 0;
      for (const scope of cf.scopeChain) {
        if (!SCOPES.has(scope.type) || !scope.object.objectId) continue;
        if (library && scope.type === 'closure') continue; // a library's closures are noise and slow to read
        const { result } = this.post<{ result: { name: string; value?: RemoteObject }[] }>('Runtime.getProperties', {
          objectId: scope.object.objectId,
          ownProperties: true,
          generatePreview: true,
        });
        for (const prop of result) {
          if (count >= MAX_LOCALS || prop.name in locals || !prop.value) continue;
          count++;
          if (this.redactor.isSecretName(prop.name)) {
            locals[prop.name] = '[redacted]';
            redactions.push(`local ${prop.name} (frame ${index})`);
          } else locals[prop.name] = this.show(prop.value, `local ${prop.name}, frame ${index}`, redactions);
        }
      }
      const receiver = this.describe(cf.this, `receiver, frame ${index}`, redactions);
      const cls = cf.this.type === 'object' && cf.this.className && !['Object', 'global', 'Window'].includes(cf.this.className) ? cf.this.className : null;
      const name = cf.functionName || '(anonymous)';
      frames.push({ ...where, function: cls && !name.includes('.') ? `${cls}.${name}` : name, receiver, locals, library });
    }
    const phase = this.phases[this.phases.length - 1] ?? 'app';
    const top = frames[0];
    return { phase, reason: params.reason, site: top ? `${top.file}:${top.line}` : phase, frames, redactions };
  }

  /** A value for the locals table: primitives as themselves, the rest summarised. */
  private show(v: RemoteObject, where: string, redactions: string[]): Shown {
    switch (v.type) {
      case 'string': {
        const s = v.value as string;
        if (this.redactor.isSecretValue(s)) {
          redactions.push(`value of ${where}`);
          return '[redacted]';
        }
        return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s;
      }
      case 'number':
        return v.unserializableValue !== undefined ? { summary: v.unserializableValue } : (v.value as number);
      case 'boolean':
        return v.value as boolean;
      case 'object':
        if (v.subtype === 'null') return null;
        return { summary: this.describe(v, where, redactions) };
      default:
        return { summary: this.describe(v, where, redactions) };
    }
  }

  /** "ClassName {a: 1, b: "x"}" with caps on breadth and string length; secrets redacted by name. */
  private describe(v: RemoteObject, where: string, redactions: string[]): string {
    if (v.type === 'undefined') return 'undefined';
    if (v.type === 'function') return `function ${(v.description ?? '').split('\n')[0]!.replace(/^(async )?function\s*/, '').slice(0, 60) || '(anonymous)'}`;
    if (v.type === 'string') return JSON.stringify(v.value);
    if (v.type !== 'object') return v.unserializableValue ?? v.description ?? String(v.value);
    if (v.subtype === 'null') return 'null';
    const head = v.description ?? v.className ?? 'Object';
    const props = v.preview?.properties;
    if (!props || props.length === 0 || v.subtype === 'error') return head.split('\n')[0]!.slice(0, MAX_STRING);
    const visible = props.filter((p) => !p.name.startsWith('Symbol(') && !p.name.startsWith('#')).slice(0, MAX_PROPS);
    if (visible.length === 0) return head.split('\n')[0]!.slice(0, MAX_STRING);
    const array = v.subtype === 'array';
    let secretNext = false; // in ["Authorization", "Bearer x"] the value after a secret header name
    const items = visible.map((p) => {
      const str = p.type === 'string' ? (p.value ?? '') : null;
      const redact = (array ? secretNext : this.redactor.isSecretName(p.name)) || (str !== null && this.redactor.isSecretValue(str));
      secretNext = array && str !== null && this.redactor.isSecretHeader(str);
      if (redact) {
        redactions.push(array ? `element ${p.name} (${where})` : `property ${p.name} (${where})`);
        return array ? '"[redacted]"' : `${p.name}: "[redacted]"`;
      }
      const value = str !== null ? JSON.stringify(str.slice(0, 60)) : (p.value ?? p.subtype ?? p.type);
      return array ? value : `${p.name}: ${value}`;
    });
    const more = v.preview!.overflow || props.length > visible.length ? ', …' : '';
    return `${head.split('\n')[0]!.slice(0, 60)} ${array ? '[' : '{'}${items.join(', ')}${more}${array ? ']' : '}'}`;
  }
}
