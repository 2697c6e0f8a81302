// server/otel.ts with a stand-in @opentelemetry/api: no package, no hook; a request without a
// recording span is left alone; an exception is recorded once, with type, message and stack.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadOtelApi, traceOf, Tracing, type OtelApi, type SpanLike } from '../../server/otel.js';

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
const response = (statusCode = 200) => ({ statusCode }) as ServerResponse;

describe('openTelemetry', () => {
  it('finds no API when neither the app folder nor tspuma can import @opentelemetry/api', async () => {
    const tried: string[] = [];
    const api = await loadOtelApi('/nonexistent-app-folder', (s) => {
      tried.push(s);
      return Promise.reject(new Error('Cannot find package'));
    });
    expect(api).toBeNull();
    expect(tried).toEqual(['@opentelemetry/api']);
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
});
