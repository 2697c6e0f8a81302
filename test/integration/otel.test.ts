// Integration: with OpenTelemetry's SDK (in-memory exporter) and HTTP instrumentation preloaded by
// NODE_OPTIONS=--require, an app failure puts an `exception` event on the request's server span,
// and its dump carries that span's trace and span ids.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, killAllBut, ROOT, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/otel/app.ts';
const PRELOAD = { NODE_OPTIONS: `--require ${join(ROOT, 'test/fixtures/otel/register.cjs')}` };

/** The -d server the first two tests share (one boot less): their requests, spans and dumps are told apart by path. */
let debugServer: Promise<{ s: Booted; dir: string }> | undefined;
let shared: Booted | undefined;
const sharedDebug = () =>
  (debugServer ??= (async () => {
    const dir = tempDir('otel');
    shared = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', join(ROOT, APP)], { ...PRELOAD, TSPUMA_DUMP_DIR: dir });
    return { s: shared, dir };
  })());
afterEach(() => killAllBut(shared));
afterAll(killAll);

interface SpanSeen {
  target: string;
  traceId: string;
  spanId: string;
  events: { name: string; attributes?: Record<string, string> }[];
}

/** The finished server spans, once one exists for every path in `targets`. */
function spansFor(url: string, targets: string[]): Promise<Map<string, SpanSeen>> {
  return waitFor(async () => {
    const spans = (await okJson(await fetch(`${url}/spans`), '/spans')) as SpanSeen[];
    const byTarget = new Map(spans.filter((s) => targets.includes(s.target)).map((s) => [s.target, s]));
    return targets.every((t) => byTarget.has(t)) ? byTarget : undefined;
  }, `server spans for ${targets.join(', ')}`);
}

describe('OpenTelemetry', () => {
  it('-d: a throw, a rejection and a 500 the app answered after a captured throw each get an exception event; the dump carries the span ids', async () => {
    const { s, dir } = await sharedDebug();
    for (const path of ['/throw', '/reject', '/caught']) expect((await fetch(`${s.url}${path}`)).status).toBe(500);
    const spans = await spansFor(s.url, ['/throw', '/reject', '/caught']);

    const thrown = spans.get('/throw')!.events.filter((e) => e.name === 'exception');
    expect(thrown).toHaveLength(1);
    expect(thrown[0]!.attributes).toMatchObject({ 'exception.type': 'OrderLookupError', 'exception.message': 'order A-17 vanished' });
    // Source-mapped: the .ts line of the throw, read from the file.
    expect(thrown[0]!.attributes!['exception.stacktrace']).toContain(`app.ts:${lineOf(APP, 'throw new OrderLookupError')}:`);
    expect(spans.get('/reject')!.events.filter((e) => e.name === 'exception').map((e) => e.attributes)).toMatchObject([{ 'exception.type': 'RangeError', 'exception.message': 'rejected after a tick' }]);
    expect(spans.get('/caught')!.events.filter((e) => e.name === 'exception').map((e) => e.attributes)).toMatchObject([{ 'exception.type': 'OrderLookupError', 'exception.message': 'order C-3 vanished' }]);

    const dump = await waitFor(() => dumpsIn(dir).find((d) => d.request?.url === '/throw'), 'the dump of /throw');
    expect(dump.trace).toEqual({ trace_id: spans.get('/throw')!.traceId, span_id: spans.get('/throw')!.spanId });
    expect(dump.trace!.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const caught = await waitFor(() => dumpsIn(dir).find((d) => d.request?.url === '/caught'), 'the dump of /caught');
    expect(caught.trace?.trace_id).toBe(spans.get('/caught')!.traceId);
    const text = readdirSync(dir).filter((n) => n.endsWith('.txt')).map((n) => readFileSync(join(dir, n), 'utf8')).find((t) => t.includes('order A-17 vanished'))!;
    expect(text).toContain(`  trace: trace_id=${dump.trace!.trace_id} span_id=${dump.trace!.span_id}`);
  });

  it('-d: the exception event says no secret the dump redacts (a token in the message, a value held in a local named password)', async () => {
    const { s } = await sharedDebug();
    expect((await fetch(`${s.url}/leak`)).status).toBe(500);
    const spans = await spansFor(s.url, ['/leak']);
    const [event] = spans.get('/leak')!.events.filter((e) => e.name === 'exception');
    expect(event!.attributes!['exception.message']).toBe('upstream refused Authorization: Bearer [redacted] for password [redacted]');
    expect(JSON.stringify(spans.get('/leak'))).not.toMatch(/OTEL-TOKEN-71d0e9|OTEL-PW-48213/);
  });

  it('without -d: a throw still gets its exception event, and a request that did not fail gets none', async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', join(ROOT, APP)], PRELOAD);
    expect((await fetch(`${s.url}/throw`)).status).toBe(500);
    expect((await fetch(`${s.url}/fine`)).status).toBe(200);
    const spans = await spansFor(s.url, ['/throw', '/fine']);
    expect(spans.get('/throw')!.events.map((e) => e.name)).toEqual(['exception']);
    expect(spans.get('/fine')!.events).toEqual([]);
  });

  it('-w 1 -d: a worker (which inherits NODE_OPTIONS) records the exception and puts the trace in its dump', async () => {
    const dir = tempDir('otel-w');
    const s = await boot(['-d', '--inspect=off', '-w', '1', '-b', 'tcp://127.0.0.1:0', join(ROOT, APP)], { ...PRELOAD, TSPUMA_DUMP_DIR: dir });
    expect((await fetch(`${s.url}/reject`)).status).toBe(500);
    const span = (await spansFor(s.url, ['/reject'])).get('/reject')!;
    expect(span.events.map((e) => e.attributes?.['exception.message'])).toEqual(['rejected after a tick']);
    const dump = await waitFor(() => dumpsIn(dir).find((d) => d.request?.url === '/reject'), 'the dump of /reject');
    expect(dump).toMatchObject({ worker: 0, trace: { trace_id: span.traceId, span_id: span.spanId } });
  });
});
