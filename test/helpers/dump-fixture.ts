// A minimal Dump for sink tests: one app frame at `site`, a fresh id and a time one second later
// than the previous one, so file names sort in creation order.
import type { Dump } from '../../diagnostics/model.js';

let id = 0;
export function fixtureDump(kind: Dump['kind'], site: string, name = 'Error'): Dump {
  return {
    version: 1,
    id: ++id,
    kind,
    phase: kind === 'hang' ? 'hang' : 'app',
    error: { name, message: `at ${site}`, code: null, causes: [] },
    pid: 4242,
    worker: 0,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
    site,
    culprit: 0,
    captured: true,
    frames: [{ function: 'app', file: site.split(':')[0]!, line: 10, column: 5, receiver: 'undefined', locals: {} }],
    request: null,
    process: { node: process.version, rssBytes: 1, heapUsedBytes: 1, uptimeSeconds: 1, eventLoopDelayMs: null },
    redactions: [],
  } as Dump;
}
