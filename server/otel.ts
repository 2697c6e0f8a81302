// OpenTelemetry, when the app's project has `@opentelemetry/api` (an optional peer, resolved at
// boot from the app's folder, then from tspuma's; absent, this module gives null and nothing of
// it runs per request; present, a request costs one property read until an SDK registers a context
// manager): each request is marked with its server span (the span active when
// node:http emitted the request, which OpenTelemetry's HTTP instrumentation starts), an app
// failure is recorded on that span as an `exception` event (type, message, the stack as Node
// prints it, source-mapped for .ts apps; message and stack redacted as dumps and log lines are), and dumps read the span's trace and span ids.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ownCode } from './shared-names.js';
import { Redactor } from '../diagnostics/redact.js';

/** The event's message and stack go through the rules of dumps and log lines (a message may quote a token). */
const eventRedactor = new Redactor();

/** The parts of @opentelemetry/api's Span this module uses. */
export interface SpanLike {
  spanContext(): { traceId: string; spanId: string };
  isRecording(): boolean;
  addEvent(name: string, attributes: Record<string, string>): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
}

/** The parts of @opentelemetry/api this module uses. */
export interface OtelApi {
  trace: { getActiveSpan(): SpanLike | undefined };
}

/** Where a request keeps its server span (on the request, like its id). */
export const kSpan = Symbol('tspuma.span');
type Marked = IncomingMessage & { [kSpan]?: SpanLike; [kRecorded]?: true };
const kRecorded = Symbol('tspuma.span.exception');

/** OpenTelemetry's status code for an error (SpanStatusCode.ERROR). */
const STATUS_ERROR = 2;

/** A request's trace, as dumps carry it; null when it has no span. */
export function traceOf(req: IncomingMessage | null | undefined): { trace_id: string; span_id: string } | null {
  const span = req ? (req as Marked)[kSpan] : undefined;
  if (!span) return null;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** The global registry an SDK registers into: @opentelemetry/api keeps it under this symbol, per major version. */
type Registry = { context?: unknown } | undefined;

/**
 * Makes the registry key a property of the global object (undefined until an SDK registers), so
 * that request()'s read of it is one property read: V8 caches no missing property of the global
 * object (a dictionary), and the read of an absent key looked it up at every request (a generic
 * KeyedLoadIC, about 140 instructions). @opentelemetry/api only reads and assigns the key (`??`
 * over its value), so undefined reads as nothing registered, and its registration fills it.
 */
function presentKey(registry: symbol): void {
  if (!Object.hasOwn(globalThis, registry)) (globalThis as Record<symbol, Registry>)[registry] = undefined;
}

export class Tracing {
  /** Some request was given a span: closed() has something to look at. */
  private marked = false;
  /** The API once imported (at once, or at the first request that finds a context manager registered). */
  private api: OtelApi | null;
  private readonly load: (() => Promise<OtelApi | null>) | null = null;
  private loading: Promise<unknown> | null = null;

  /**
   * @param api the API, or how to import it: imported when a request first finds a context
   * manager registered (an SDK registered after the boot); until it is in, requests stay unmarked.
   * @param thrown the error captured for a request whose framework answered 5xx itself (debug
   * mode's attribution); undefined when none was captured.
   * @param registry the global key @opentelemetry/api's SDK registers its context manager under
   * (otelRegistryKey); while nothing is registered there, no span can be active and a request
   * pays one property read instead of the API's lookup. null: always ask the API.
   */
  constructor(
    api: OtelApi | (() => Promise<OtelApi | null>),
    private readonly thrown: (req: IncomingMessage) => unknown = () => undefined,
    private readonly registry: symbol | null = null,
  ) {
    if (typeof api === 'function') {
      this.api = null;
      this.load = api;
    } else this.api = api;
    if (registry !== null) presentKey(registry);
  }

  /** At the request event: keeps the active server span on req. */
  request(req: IncomingMessage): void {
    const key = this.registry;
    if (key !== null && ((globalThis as Record<symbol, Registry>)[key])?.context === undefined) return;
    const api = this.api;
    if (api === null) return this.startLoading();
    const span = api.trace.getActiveSpan();
    if (!span || !span.isRecording()) return;
    (req as Marked)[kSpan] = span;
    this.marked = true;
  }

  /**
   * The API's import, once. Its own method: a closure over `this` in request() made V8 allocate a
   * context for every call of it, whether the closure was made or not.
   */
  private startLoading(): void {
    this.loading ??= this.load!().then((loaded) => (this.api = loaded));
  }

  /**
   * The response closed (called before its 'close' listeners, so before the instrumentation's own
   * ends the span): a 5xx answered without a throw reaching tspuma records the throw debug mode captured.
   */
  closed(req: IncomingMessage, res: ServerResponse): void {
    if (!this.marked || !(req as Marked)[kSpan] || res.statusCode < 500 || (req as Marked)[kRecorded]) return;
    const err = this.thrown(req);
    if (err !== undefined) this.exception(req, err);
  }

  /** Records err on req's server span as an `exception` event (once per request). */
  exception(req: IncomingMessage, err: unknown): void {
    const marked = req as Marked;
    const span = marked[kSpan];
    if (!span || marked[kRecorded] || !span.isRecording()) return;
    marked[kRecorded] = true;
    const e = err as { name?: unknown; message?: unknown; stack?: unknown } | null;
    const type = err instanceof Error ? (err.constructor?.name && err.constructor.name !== 'Error' ? err.constructor.name : err.name) : typeof err;
    const message = eventRedactor.query(typeof e?.message === 'string' ? e.message : String(err));
    span.addEvent('exception', {
      'exception.type': type,
      'exception.message': message,
      ...(typeof e?.stack === 'string' ? { 'exception.stacktrace': eventRedactor.query(e.stack) } : {}),
    });
    span.setStatus({ code: STATUS_ERROR, message });
  }
}

/** Imports @opentelemetry/api from the app's folder, else from tspuma's; null when neither has it. */
const importModule = (specifier: string): Promise<unknown> => import(specifier);

export async function loadOtelApi(appBase: string, load: (specifier: string) => Promise<unknown> = importModule): Promise<OtelApi | null> {
  return (await loadOtel(appBase, load))?.api ?? null;
}

/**
 * The symbol @opentelemetry/api registers its globals under (`opentelemetry.js.api.MAJOR`), from
 * the version in the package.json above `file` (the API's resolved entry); null when not found.
 */
export function otelRegistryKey(file: string): symbol | null {
  // Looked for without a throw where there is no package.json, and with debug mode's pausing off
  // (ownCode) for a malformed one: tspuma's own lookups never pause the process.
  return ownCode(() => {
    for (let dir = dirname(file), up = 0; up < 6; dir = dirname(dir), up++) {
      const path = join(dir, 'package.json');
      if (!existsSync(path)) continue;
      try {
        const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name !== '@opentelemetry/api') continue;
        const major = typeof pkg.version === 'string' ? /^(\d+)\./.exec(pkg.version)?.[1] : undefined;
        return major === undefined ? null : Symbol.for(`opentelemetry.js.api.${major}`);
      } catch {
        /* unreadable: one level up */
      }
    }
    return null;
  });
}

/** Where @opentelemetry/api resolves from `from` (a file), or null; with debug mode's pausing off (ownCode). */
const resolveOtel = (from: string): string | null =>
  ownCode(() => {
    try {
      return createRequire(from).resolve('@opentelemetry/api');
    } catch {
      return null; // not installed there
    }
  });

async function loadOtel(appBase: string, load: (specifier: string) => Promise<unknown>): Promise<{ api: OtelApi; registry: symbol | null } | null> {
  // Looked up synchronously with debug mode's pausing off: a missing optional package is the
  // usual case, and its lookup's throws must not pause the process at every boot.
  const candidates: { specifier: string; file: string | null }[] = [];
  const inApp = resolveOtel(join(appBase, 'package.json'));
  if (inApp !== null) candidates.push({ specifier: pathToFileURL(inApp).href, file: inApp });
  // tspuma's own copy, imported only when there is one (a failed import throws inside node's loader),
  // by its file URL: node's ESM resolver throws and catches at a bare specifier (`new URL` of it),
  // which paused a -d process twice (tests18.1). A loader given for tests gets the bare name.
  const own = resolveOtel(fileURLToPath(import.meta.url));
  if (own !== null) candidates.push({ specifier: pathToFileURL(own).href, file: own });
  else if (load !== importModule) candidates.push({ specifier: '@opentelemetry/api', file: null });
  for (const { specifier, file } of candidates) {
    try {
      const mod = (await load(specifier)) as { trace?: unknown; default?: { trace?: unknown } };
      const api = (typeof mod.trace === 'object' ? mod : mod.default) as OtelApi | undefined;
      if (api && typeof api.trace?.getActiveSpan === 'function') return { api, registry: file === null ? null : otelRegistryKey(file) };
    } catch {
      /* not installed here either */
    }
  }
  return null;
}

/**
 * The tracing hook for a Server: null without @opentelemetry/api, so requests pay nothing. The API
 * itself (about 80 CommonJS modules, 15-20 ms of a boot's CPU) is imported at boot only when an SDK
 * registered a context manager before it (a --import/--require preload, or the app's own first
 * import); otherwise when a request first finds one registered.
 */
export async function openTelemetry(appBase: string, thrown?: (req: IncomingMessage) => unknown): Promise<Tracing | null> {
  const file = resolveOtel(join(appBase, 'package.json')) ?? resolveOtel(fileURLToPath(import.meta.url));
  if (file === null) return null;
  const registry = otelRegistryKey(file);
  if (registry !== null && (globalThis as Record<symbol, Registry>)[registry]?.context === undefined) {
    return new Tracing(async () => (await loadOtel(appBase, importModule))?.api ?? null, thrown, registry);
  }
  const loaded = await loadOtel(appBase, importModule);
  return loaded ? new Tracing(loaded.api, thrown, loaded.registry) : null;
}
