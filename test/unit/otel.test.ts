// server/otel.ts with a stand-in @opentelemetry/api: no package, no hook; a request without a
// recording span is left alone; an exception is recorded once, with type, message and stack.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadOtelApi, otelRegistryKey, traceOf, Tracing, type OtelApi, type SpanLike } from '../../server/otel.js';

function fakeSpan(recording = true) {
  const events: { name: string; attributes: Record<string, string> }[] = [];
  const span: SpanLike = {
    spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) }),
    isRecording: () => recording,
    addEvent: (name, attributes) => events.push({ name, attributes }),
    setStatus: () => undefined,
  };
  return { span, events };
}
const apiWith = (span: SpanLike | undefined): OtelApi => ({ trace: { getActiveSpan: () => span } });
const request = () => ({}) as IncomingMessage;
/** A context manager that keeps no context: what an SDK registers, for the installed API. */
function passThroughManager(api: typeof import('@opentelemetry/api')): import('@opentelemetry/api').ContextManager {
  return {
    active: () => api.ROOT_CONTEXT,
    with: (_context, fn, thisArg, ...args) => fn.call(thisArg, ...args),
    bind: (_context, target) => target,
    enable() {
      return this;
    },
    disable() {
      return this;
    },
  };
}
const response = (statusCode = 200) => ({ statusCode }) as ServerResponse;

describe('openTelemetry', () => {
  it('finds no API when neither the app folder nor tspuma can import @opentelemetry/api', async () => {
    const tried: string[] = [];
    const api = await loadOtelApi('/nonexistent-app-folder', (s) => {
      tried.push(s);
      return Promise.reject(new Error('Cannot find package'));
    });
    expect(api).toBeNull();
    // tspuma's own copy (this checkout's devDependency), tried by its file URL (tests18.1).
    expect(tried).toEqual([expect.stringMatching(/^file:\/\/.*\/node_modules\/@opentelemetry\/api\/.+\.js$/)]);
  });

  it('leaves a request without a recording span unmarked: no trace, no event', () => {
    const { span, events } = fakeSpan(false);
    const req = request();
    const tracing = new Tracing(apiWith(span));
    tracing.request(req);
    tracing.exception(req, new Error('x'));
    expect(traceOf(req)).toBeNull();
    expect(events).toEqual([]);
    new Tracing(apiWith(undefined)).request(req);
    expect(traceOf(req)).toBeNull();
  });

  it('records one exception event per request, with the class name, message and stack', () => {
    const { span, events } = fakeSpan();
    const req = request();
    const tracing = new Tracing(apiWith(span));
    tracing.request(req);
    class PaymentDeclined extends Error {}
    const err = new PaymentDeclined('card 4 declined');
    tracing.exception(req, err);
    tracing.exception(req, new Error('second'));
    expect(events).toEqual([{ name: 'exception', attributes: { 'exception.type': 'PaymentDeclined', 'exception.message': 'card 4 declined', 'exception.stacktrace': err.stack! } }]);
    expect(traceOf(req)).toEqual({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
  });

  it('on a 5xx close with no throw seen by tspuma, records the captured throw; on a 2xx, nothing', () => {
    const { span, events } = fakeSpan();
    const captured = new TypeError('caught by the framework');
    const tracing = new Tracing(apiWith(span), () => captured);
    const ok = request();
    tracing.request(ok);
    tracing.closed(ok, response(200));
    expect(events).toEqual([]);
    const failed = request();
    tracing.request(failed);
    tracing.closed(failed, response(500));
    expect(events.map((e) => e.attributes['exception.message'])).toEqual(['caught by the framework']);
  });

  it('finds the key the installed @opentelemetry/api registers a context manager under', async () => {
    const entry = createRequire(import.meta.url).resolve('@opentelemetry/api');
    const key = otelRegistryKey(entry);
    expect(typeof key).toBe('symbol');
    const api = await import('@opentelemetry/api');
    const manager = passThroughManager(api);
    expect(api.context.setGlobalContextManager(manager)).toBe(true);
    try {
      expect((globalThis as Record<symbol, { context?: unknown } | undefined>)[key!]?.context).toBe(manager);
    } finally {
      api.context.disable();
    }
    expect((globalThis as Record<symbol, { context?: unknown } | undefined>)[key!]?.context).toBeUndefined();
    expect(otelRegistryKey('/nonexistent/dir/index.js')).toBeNull();
  });

  it('keeps the registry key on the global object (undefined until an SDK registers); the installed API registers through it, and the next request is marked', async () => {
    const key = otelRegistryKey(createRequire(import.meta.url).resolve('@opentelemetry/api'))!;
    const global = globalThis as Record<symbol, { context?: unknown } | undefined>;
    const had = Object.hasOwn(global, key);
    const kept = global[key];
    delete global[key];
    const api = await import('@opentelemetry/api');
    const { span } = fakeSpan();
    try {
      const tracing = new Tracing(apiWith(span), undefined, key);
      expect(Object.hasOwn(global, key)).toBe(true);
      expect(global[key]).toBeUndefined();
      const before = request();
      tracing.request(before);
      expect(traceOf(before)).toBeNull();
      const manager = passThroughManager(api);
      expect(api.context.setGlobalContextManager(manager)).toBe(true);
      expect(global[key]?.context).toBe(manager);
      const after = request();
      tracing.request(after);
      expect(traceOf(after)).toEqual({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
    } finally {
      api.context.disable();
      if (had) global[key] = kept;
      else delete global[key];
    }
  });

  it('asks the API for no span while no context manager is registered, and marks requests once one is', () => {
    const registry = Symbol('test-otel-registry');
    const { span } = fakeSpan();
    let asked = 0;
    const api: OtelApi = { trace: { getActiveSpan: () => (asked++, span) } };
    const tracing = new Tracing(api, undefined, registry);
    const before = request();
    tracing.request(before);
    expect(asked).toBe(0);
    expect(traceOf(before)).toBeNull();
    const global = globalThis as Record<symbol, unknown>;
    global[registry] = { version: '1.9.0' }; // an SDK registered something, but no context manager
    try {
      tracing.request(before);
      expect(asked).toBe(0);
      global[registry] = { version: '1.9.0', context: {} };
      const after = request();
      tracing.request(after);
      expect(asked).toBe(1);
      expect(traceOf(after)).toEqual({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
    } finally {
      delete global[registry];
    }
  });

  it('imports the API only when a request first finds a context manager registered; that request stays unmarked, the next is marked', async () => {
    const registry = Symbol('test-otel-registry-lazy');
    const { span } = fakeSpan();
    let imports = 0;
    let loaded!: () => void;
    const imported = new Promise<void>((resolve) => (loaded = resolve));
    const tracing = new Tracing(
      async () => {
        imports++;
        await imported;
        return apiWith(span);
      },
      undefined,
      registry,
    );
    const first = request();
    tracing.request(first);
    expect(imports).toBe(0);
    const global = globalThis as Record<symbol, unknown>;
    global[registry] = { version: '1.9.0', context: {} };
    try {
      const during = request();
      tracing.request(during);
      tracing.request(during);
      expect(imports).toBe(1);
      expect(traceOf(during)).toBeNull();
      loaded();
      await imported;
      await new Promise((r) => setImmediate(r));
      const after = request();
      tracing.request(after);
      expect(imports).toBe(1);
      expect(traceOf(after)).toEqual({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
    } finally {
      delete global[registry];
    }
  });
});
