// The one line debug mode writes when V8 pauses at the heap limit (review10.5). With a debugger
// session enabled (-d's capture), V8 raises the heap limit past --max-old-space-size and pauses
// (reason OOM) instead of ending the process there; when the heap reaches the raised limit node
// aborts with its own FATAL ERROR lines, which name no request. A cluster worker's death line
// comes from its primary (its last check-in); a single-mode server has no one to say it, so this
// pause is the moment: the request whose code was running, the heap used and its limit, the app
// frame at the pause and the requests in the app, written synchronously to stderr (the process
// may be gone a moment later).
import { getHeapStatistics } from 'node:v8';
import { writeSync } from 'node:fs';
import { kInFlight, type InFlight } from '../server/shared-names.js';
import { requestIdOf } from '../server/request-id.js';
import type { CallRecord } from './call-record.js';
import { Redactor } from './redact.js';

/** What the line is built from (all read at the pause). */
export interface HeapLimitFacts {
  /** The app call running at the pause (attribution), if any. */
  record: CallRecord | undefined;
  /** `app (src/app.ts:7:39)`: the first app frame at the pause, null when none is on the stack. */
  frame: string | null;
  usedBytes: number;
  /** The limit before V8 raised it (read as debug mode loaded), and at the pause. */
  limitBytes: number;
  raisedBytes: number;
  /** The requests in the app (kInFlight, their URLs redacted by the server), null when the server exposes none. */
  inFlight: InFlight[] | null;
  /** The running call's URL as the line shows it: secret query values redacted. */
  shownUrl?: (url: string) => string;
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
/** The call's URL is the request line as it arrived (the dump builder redacts it too): `?token=` never shown. */
const defaultShown = (url: string) => new Redactor().query(url);
/** Requests named in the line at most; the rest are counted. */
const NAMED = 5;

export function heapLimitLine(f: HeapLimitFacts): string {
  const who = f.record ? `in ${f.record.req.method} ${(f.shownUrl ?? defaultShown)(f.record.url)} (request ${requestIdOf(f.record.req)})` : 'outside any request (a timer, a collection between requests)';
  const at = f.frame ? `, at ${f.frame}` : ', with no app frame on the stack';
  let inApp = '';
  if (f.inFlight) {
    const shown = f.inFlight.slice(0, NAMED).map((r) => `${r.method} ${r.url}, ${r.ms} ms${r.queued ? ', queued' : ''}`);
    const more = f.inFlight.length > NAMED ? `; ${f.inFlight.length - NAMED} more` : '';
    inApp = `; in the app: ${f.inFlight.length} request${f.inFlight.length === 1 ? '' : 's'}${shown.length > 0 ? ` (${shown.join('; ')}${more})` : ''}`;
  }
  const raised = f.raisedBytes > f.limitBytes ? `; V8 raised it to ${mib(f.raisedBytes)} MiB for -d's debugger, and node aborts when the heap reaches that (DEBUGGING.md, Memory)` : '';
  return `tspuma: the JavaScript heap reached its limit ${who}${at}${inApp}: heap ${mib(f.usedBytes)} MiB used, limit ${mib(f.limitBytes)} MiB${raised}`;
}

/** The URL redacted; if redacting fails at this pause, its path alone (a query may hold a secret). */
function shownSafely(url: string, redactor: Redactor): string {
  try {
    return redactor.query(url);
  } catch {
    return url.includes('?') ? `${url.split('?', 1)[0]}?…` : url;
  }
}

/** The heap limit as this module loads (debug mode's start), before V8 raises it at a pause. */
const LIMIT = getHeapStatistics().heap_size_limit;

/** Reads the facts now (at V8's OOM pause) and writes the line to stderr synchronously; never throws. */
export function writeHeapLimitLine(record: CallRecord | undefined, frame: string | null, write: (text: string) => void = (t) => void writeSync(2, t), redactor: Redactor = new Redactor()): void {
  try {
    const heap = getHeapStatistics();
    const read = (globalThis as Record<symbol, unknown>)[kInFlight];
    let inFlight: InFlight[] | null = null;
    try {
      inFlight = typeof read === 'function' ? (read as () => InFlight[])() : null;
    } catch {
      inFlight = null;
    }
    write(`${heapLimitLine({ record, frame, usedBytes: heap.used_heap_size, limitBytes: LIMIT, raisedBytes: heap.heap_size_limit, inFlight, shownUrl: (url) => shownSafely(url, redactor) })}\n`);
  } catch {
    /* the process is out of memory: nothing more to say */
  }
}
