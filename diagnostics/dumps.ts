// Building a dump: an error plus its capture (or its stack text when nothing was captured)
// turned into one redacted Dump.
import { getHeapStatistics } from 'node:v8';
import type { IncomingMessage } from 'node:http';
import type { Capture } from './capture.js';
import { culpritIndex, isServerFile } from './culprit.js';
import { DUMP_VERSION, nextDumpId, type Dump, type DumpError, type DumpFrame, type DumpMember, type DumpPhase, type ResponseCut, type Shown } from './model.js';
import { redactDeep, scrubRemembered, type Redactor } from './redact.js';
import { requestIdOf } from '../server/request-id.js';
import { clientAddressOf } from '../server/trusted-proxy.js';
import { dumpFrame, finishFrames } from './finish.js';
import { compileFrame, stackFrames } from './stack-text.js';
import { kDeliveredBody } from '../server/shared-names.js';
import { bareObjectText } from '../server/error-stand-in.js';
import { loopLateness, type LoopLateness } from '../server/loop-block.js';

export { nextDumpId };

export interface DumpContext {
  phase: DumpPhase;
  kind?: Dump['kind'];
  request?: IncomingMessage | null;
  /** A capture taken earlier (listen's snapshot) instead of the one at the throw. */
  capture?: Capture | null;
  /** Values at the call site, shown with the dump. */
  context?: Record<string, unknown>;
  /** Site key known from an earlier capture at the same throw site. */
  site?: string;
  worker?: number | null;
  /** The capture of another error's first throw (causes, AggregateError members). */
  lookup?: (err: unknown) => Capture | undefined;
  /** The capture taken at a site (`file:line`) in the current window: a cause thrown where an earlier throw was captured. */
  lookupSite?: (site: string) => Capture | undefined;
  /** The status the app answered with itself (a framework caught the throw). */
  response?: { status: number; cut?: ResponseCut };
  /** How the failure reached tspuma, when that is not plain (see Dump.note). */
  note?: string;
  /** Requests in the app at the time (an uncaught exception). */
  inFlight?: Dump['inFlight'];
  /** The client's address as recorded when the request arrived. */
  remote?: string;
  /** No frame is the culprit: they are the reporter's (ReportContext.noCulprit). */
  noCulprit?: boolean;
  /** The request's URL as it arrived (req.url, unless a router has rewritten it since). */
  url?: string;
  /** A promise nobody awaited rejected (Dump.unhandled). */
  unhandled?: true;
}

const MAX_CHAIN = 5;
/** Longest parsed request body a dump keeps (characters of its JSON). */
const MAX_BODY = 16 * 1024;
const MAX_MEMBERS = 10;
const MEMBER_FRAMES = 8;

/** err, its cause, the cause's cause...: outermost first, at most MAX_CHAIN causes. */
function chainOf(err: unknown): unknown[] {
  const chain = [err];
  let cur = err as { cause?: unknown } | null;
  while (chain.length <= MAX_CHAIN && cur !== null && typeof cur === 'object' && 'cause' in cur && cur.cause !== undefined) {
    chain.push(cur.cause);
    cur = cur.cause as { cause?: unknown } | null;
  }
  return chain;
}

/**
 * An error that aggregates others: the built-in AggregateError (Promise.any), and the classes of
 * packages that predate it or wrap it (aggregate-error, p-any, bluebird), known by their `errors` list.
 */
export function isAggregate(err: unknown): boolean {
  if (err instanceof AggregateError) return true;
  if (err === null || typeof err !== 'object') return false;
  let list: unknown;
  try {
    list = (err as { errors?: unknown }).errors;
  } catch {
    return false;
  }
  return Array.isArray(list) && list.length > 0 && list.some((m) => m instanceof Error) && /Aggregate|Error/.test(String((err as { name?: unknown }).name ?? ''));
}

const isAppFrame = (f: { file: string; library?: boolean }) => !f.library && !isServerFile(f.file);

function fromCapture(capture: Capture): DumpFrame[] {
  return capture.frames.map(dumpFrame);
}

/** Fields every error (or tspuma's coded error) has, shown elsewhere in a dump. */
const STANDARD_ERROR_KEYS = new Set(['name', 'message', 'stack', 'code', 'cause', 'errors']);
/** tspuma's coded errors also carry these, shown in their message. */
const CODED_ERROR_KEYS = new Set(['params', 'status']);
const MAX_ERROR_FIELDS = 12;

export function errorInfo(err: unknown): DumpError {
  const e = err as { name?: string; message?: string; code?: unknown; cause?: unknown } | null;
  const causes: DumpError['causes'] = [];
  let cause = e?.cause as typeof e;
  for (let depth = 0; cause && depth < 5; depth++) {
    causes.push({ name: cause.name ?? 'Error', message: String(cause.message ?? cause), code: typeof cause.code === 'string' ? cause.code : null });
    cause = cause.cause as typeof e;
  }
  if (err === undefined || err === null) return { name: String(err), message: `thrown or rejected with ${String(err)}, which says nothing of what failed: the frames say where`, code: null, causes };
  if (e === null || typeof e !== 'object') return { name: typeof err, message: String(err), code: null, causes };
  // `throw { status: 502 }`: said to be an object that is no Error, not "Error: " with no message.
  const bare = bareObjectText(err);
  if (bare) return { ...bare, code: typeof e.code === 'string' ? e.code : null, causes };
  return { name: e.name ?? 'Error', message: String(e.message ?? ''), code: typeof e.code === 'string' ? e.code : null, causes };
}

function shown(v: unknown): Shown {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.length > 160 ? `${v.slice(0, 160)}…` : v;
  if (v === undefined) return { summary: 'undefined' };
  try {
    const s = JSON.stringify(v);
    return { summary: s.length > 200 ? `${s.slice(0, 200)}…` : s };
  } catch {
    return { summary: Object.prototype.toString.call(v) };
  }
}

/**
 * Redaction follows the value: a value redacted anywhere in this capture (a local named
 * `password`, a header) is replaced wherever else it appears in the dump (a local `pw`, another
 * object's property, the message, the culprit's source line). Strings only; numbers stay.
 */
function scrubDump(dump: Dump): Dump {
  let changed = false;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const s = scrubRemembered(v);
      if (s !== v) changed = true;
      return s;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) if (k !== 'redactions') o[k] = walk(o[k]);
    }
    return v;
  };
  walk(dump);
  if (changed) dump.redactions.push('values seen redacted elsewhere in this capture');
  return dump;
}


/** The note of an error made in another thread and received in a captured frame. */
function madeInThreadNote(frames: DumpFrame[], made: number): string {
  const at = frames[made];
  const receiver = at ? `#${made} ${at.function} (${at.file}:${at.line})` : `#${made}`;
  return `made in another thread (a worker_threads worker) and received here: frames #0-#${made - 1} are the worker's, from the error's stack, where it was made (values are not obtainable across threads: dump the worker's own failures with -d in it); frame ${receiver} received it, with its values`;
}

/** Whose code threw, above the culprit: "node's code" or "the package NAME". */
function whoseCode(f: DumpFrame): string {
  if (f.origin === 'node' || f.file.startsWith('node:') || f.file === '') return "node's code";
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(f.file);
  return m ? `the package ${m[1]!.replace('\\', '/')}` : 'a dependency';
}

/**
 * The note of an error thrown inside node's code or a package with no app frame on the stack
 * (the app awaited it: Hono's `c.req.json()` parsing a malformed body; or made it in a call and it
 * was thrown later: a second `res.end(chunk)`), from its stack text;
 * null when its stack starts in app code.
 */
export function thrownWithoutAppFrame(err: unknown, cap: number): string | null {
  const frames = stackFrames(err, cap);
  const top = frames[0];
  if (!top || !top.library) return null;
  const app = frames[culpritIndex(frames)];
  if (!app || app === top || app.library) return null;
  // An `at async` frame awaited it; a plain call's frame made it, and it was thrown once that call
  // had returned (a second res.end(chunk): node emits its error on a later tick; review20.6).
  const awaited = app.function.startsWith('async ') || app.file.startsWith('async ');
  const how = awaited ? `the app awaited it at ${app.file.replace(/^async /, '')}:${app.line}` : `the app's call at ${app.file}:${app.line} made it, and it was thrown after that call returned: an 'error' event emitted on a later tick, or a callback`;
  return `thrown inside ${whoseCode(top)} (${top.function} at ${top.file}:${top.line}:${top.column}) with no app frame on the stack (${how}), so no values were captured: the frames are from its stack`;
}

/** The note of a throw inside node's code or a package, under the culprit (an app frame): who threw, and whose values are shown. */
function thrownBy(frames: DumpFrame[], culprit: number): string {
  const top = frames[0]!;
  const app = frames[culprit]!;
  return `thrown inside ${whoseCode(top)} (${top.function} at ${top.file}:${top.line}:${top.column}), called from ${app.function} at ${app.file}:${app.line}: the values are the app frames' at that call`;
}

export class DumpBuilder {
  constructor(
    private readonly redactor: Redactor,
    private readonly frameCap: number,
    /** The event loop's lateness (process.eventLoopDelayMs): the blocked-loop watch's ticks, no timer of debug mode's own (tests16.2). */
    private readonly delay: () => LoopLateness | null = loopLateness,
  ) {}

  /** The error's own enumerable fields beyond the ones every error has, at most 12, redacted. */
  private errorFields(err: unknown, redactions: string[]): Record<string, Shown> | null {
    if (err === null || typeof err !== 'object') return null;
    const out: Record<string, Shown> = {};
    let n = 0;
    for (const key of Object.keys(err)) {
      if (STANDARD_ERROR_KEYS.has(key) || (CODED_ERROR_KEYS.has(key) && (err as { name?: unknown }).name === 'TspumaError')) continue;
      if (++n > MAX_ERROR_FIELDS) {
        out['…'] = { summary: `${Object.keys(err).length - MAX_ERROR_FIELDS} more` };
        break;
      }
      let raw: unknown;
      try {
        raw = (err as Record<string, unknown>)[key];
      } catch {
        continue; // a throwing getter
      }
      if (this.redactor.isSecretKey(key) || (typeof raw === 'string' && this.redactor.isSecretStringName(key))) {
        if (raw !== undefined && raw !== null) redactDeep({ [key]: raw }, this.redactor); // remembered: redaction follows the value
        out[key] = '[redacted]';
        redactions.push(`error field ${key}`);
        continue;
      }
      // Redacted at every level before it is summarised (an axios error's config.headers.authorization).
      out[key] = shown(redactDeep(raw, this.redactor, redactions, `error field ${key}`));
    }
    return n > 0 ? out : null;
  }

  build(errIn: unknown, captureIn: Capture | undefined | null, ctx: DumpContext): Dump {
    const lookup = ctx.lookup ?? (() => undefined);
    // The innermost throw in app code explains an error that travelled: a cause chain's
    // innermost captured cause, else (nothing captured) the innermost one whose stack has app code.
    const chain = chainOf(errIn);
    let framesFromCause = 0;
    let capture = captureIn ?? undefined;
    let err = errIn;
    if (!ctx.capture) {
      for (let i = chain.length - 1; i >= 1; i--) {
        // Its own capture, else the first throw at its site in the window (a retry's later attempt).
        const c = lookup(chain[i]) ?? this.atSite(chain[i], ctx.lookupSite);
        if (c && c.frames.some(isAppFrame)) {
          capture = c;
          err = chain[i];
          framesFromCause = i;
          break;
        }
      }
      if (!capture) {
        for (let i = chain.length - 1; i >= 1; i--) {
          if (stackFrames(chain[i], this.frameCap).some(isAppFrame)) {
            err = chain[i];
            framesFromCause = i;
            break;
          }
        }
      }
    }
    // An AggregateError (Promise.any) is raised by the runtime: its first captured member's throw explains it.
    let framesFromMember = -1;
    const listed = (errIn as { errors?: unknown } | null)?.errors;
    if (!capture && !ctx.capture && isAggregate(errIn) && Array.isArray(listed)) {
      framesFromMember = listed.slice(0, MAX_MEMBERS).findIndex((m) => lookup(m) !== undefined);
      if (framesFromMember >= 0) {
        err = listed[framesFromMember];
        capture = lookup(err);
      }
    }
    const redactions: string[] = [...(capture?.redactions ?? [])];
    // Made in another thread and received here (a worker's reply through a MessagePort): where it
    // was made (the stack text's frames, the worker's) comes first and holds the culprit; the
    // frames that received it follow with their values, as context.
    const made = capture?.madeInThread ? stackFrames(err, this.frameCap) : [];
    const frames: DumpFrame[] = capture ? [...made, ...fromCapture(capture)].slice(0, Math.max(this.frameCap, made.length + 1)) : stackFrames(err, this.frameCap);
    if (capture && made.length === 0) {
      // V8 pauses with the synchronous frames only; the stack text knows the awaiting callers.
      for (const f of stackFrames(err, this.frameCap)) {
        if (frames.length >= this.frameCap) break;
        if (f.function.startsWith('async ')) frames.push(f);
      }
    }
    // A syntax error: where it is in the app's file comes first (the frames that ran are the loader's).
    const compiled = compileFrame(chain);
    if (compiled && !frames.some(isAppFrame)) frames.unshift(compiled);
    const culprit = finishFrames(frames, this.redactor, !ctx.noCulprit); // origins, folded recursion, the culprit (an app frame first) and its source line
    const top = frames[culprit] ?? frames[0];
    const thrownInside = made.length > 0 ? madeInThreadNote(frames, made.length) : capture && culprit > 0 && frames[0]!.library ? thrownBy(frames, culprit) : undefined;
    const req = ctx.request ?? null;
    let context: Record<string, Shown> | undefined;
    if (ctx.context) {
      context = {};
      for (const [k, v] of Object.entries(ctx.context)) {
        if (this.redactor.isSecretName(k)) {
          context[k] = '[redacted]';
          redactions.push(`context ${k}`);
        } else {
          const value = shown(v);
          context[k] = typeof value === 'string' ? this.redactor.query(value, redactions, `context ${k}`) : value;
        }
      }
    }
    // A message may quote the request URL (a coded error, an app's own text).
    const info = errorInfo(errIn);
    const fields = this.errorFields(errIn, redactions);
    const error: DumpError = {
      ...info,
      ...(fields ? { fields } : {}),
      message: this.redactor.query(info.message, redactions, 'error message'),
      causes: info.causes.map((c, i) => {
        const causeFields = this.errorFields(chain[i + 1], redactions);
        return { ...c, message: this.redactor.query(c.message, redactions, `cause ${i + 1}`), ...(causeFields ? { fields: causeFields } : {}), ...this.whereThrown(chain[i + 1], lookup, ctx.lookupSite) };
      }),
    };
    const members = this.members(errIn, lookup, redactions, framesFromMember);
    // Reading the RSS opens /proc/self/stat: out of descriptors (an [accept] dump's very cause) it
    // throws, and the dump goes on with the heap figures alone.
    let mem: { rss: number; heapUsed: number };
    try {
      mem = process.memoryUsage();
    } catch {
      mem = { rss: 0, heapUsed: getHeapStatistics().used_heap_size };
    }
    const dump: Dump = {
      version: DUMP_VERSION,
      id: nextDumpId(),
      kind: ctx.kind ?? (capture?.reason === 'promiseRejection' ? 'rejection' : 'exception'),
      phase: ctx.phase,
      error,
      pid: process.pid,
      worker: ctx.worker ?? null,
      time: new Date().toISOString(),
      // file:line of the throw: the same key whether the frames came from a capture or the stack text.
      site: capture?.site ?? ctx.site ?? (top ? `${top.file}:${top.line}` : `${ctx.phase}:${info.code ?? 'unknown'}`),
      culprit,
      captured: Boolean(capture),
      frames,
      request: req
        ? { id: requestIdOf(req), remote: ctx.remote ?? clientAddressOf(req) ?? null, method: req.method ?? '', url: this.redactor.query(ctx.url ?? req.url ?? '', redactions, 'request url'), headers: this.redactor.headers(req.headers, redactions), ...this.body(req, redactions) }
        : null,
      process: {
        node: process.version,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        uptimeSeconds: Math.round(process.uptime()),
        eventLoopDelayMs: this.delay(),
      },
      redactions,
      ...(ctx.unhandled ? { unhandled: true as const } : {}),
      ...(context ? { context } : {}),
      ...(framesFromCause > 0 ? { framesFromCause } : {}),
      ...(members ? { members } : {}),
      ...(framesFromMember >= 0 ? { framesFromMember } : {}),
      ...(ctx.response ? { response: ctx.response } : {}),
      ...(ctx.note || thrownInside ? { note: ctx.note ?? thrownInside } : {}),
      ...(ctx.inFlight && ctx.inFlight.length > 0 ? { inFlight: ctx.inFlight } : {}),
    };
    return scrubDump(dump);
  }

  /** The capture taken at the site where `err` was made (its stack's culprit), if any. */
  private atSite(err: unknown, lookupSite?: (site: string) => Capture | undefined): Capture | undefined {
    if (!lookupSite) return undefined;
    const frames = stackFrames(err, this.frameCap);
    const at = frames[culpritIndex(frames)];
    return at ? lookupSite(`${at.file}:${at.line}`) : undefined;
  }

  /**
   * The request's body as the app's framework parsed it (`req.body`: express.json, urlencoded,
   * text), redacted like a JSON body, for `tspuma replay`; nothing when none was parsed, when it
   * is raw bytes, or over MAX_BODY.
   */
  private body(req: IncomingMessage, redactions: string[]): { body?: { type: 'json' | 'text'; text: string } } {
    const parsed = (req as { body?: unknown }).body;
    let body: { type: 'json' | 'text'; text: string } | null = null;
    // The body tspuma's fetch Request delivered (Hono's c.req.json() on a malformed text): as it came.
    const delivered = (req as unknown as Record<symbol, unknown>)[kDeliveredBody];
    if (parsed === undefined && Buffer.isBuffer(delivered) && delivered.length <= MAX_BODY) {
      const text = delivered.toString('utf8');
      if (!text.includes('\uFFFD')) body = { type: 'text', text };
    } else if (typeof parsed === 'string') body = { type: 'text', text: parsed };
    else if (parsed !== null && typeof parsed === 'object' && !Buffer.isBuffer(parsed) && !ArrayBuffer.isView(parsed)) {
      try {
        body = { type: 'json', text: JSON.stringify(parsed) };
      } catch {
        body = null; // a cycle, a BigInt
      }
    }
    if (!body || body.text.length > MAX_BODY) return {};
    return { body: { type: body.type, text: this.redactor.query(body.text, redactions, 'request body') } };
  }

  /** Where a cause was thrown: its culprit's file:line, and whether values were captured. */
  private whereThrown(cause: unknown, lookup: (e: unknown) => Capture | undefined, lookupSite?: (site: string) => Capture | undefined): { site?: string; captured: boolean; values?: Record<string, Shown> } {
    const own = lookup(cause);
    const frames = own ? fromCapture(own) : stackFrames(cause, this.frameCap);
    const at = frames[culpritIndex(frames)];
    const site = at ? `${at.file}:${at.line}` : undefined;
    // Not captured itself (a repeat of its site in the window, a retry's later attempt): the
    // capture of the first throw at that same site, in this request or window, has its values.
    const c = own ?? (site ? lookupSite?.(site) : undefined);
    const cf = c ? c.frames[culpritIndex(c.frames)] : undefined;
    const values = cf && Object.keys(cf.locals).length > 0 ? cf.locals : undefined;
    return { ...(site ? { site } : {}), captured: Boolean(c), ...(values ? { values } : {}) };
  }

  /** An AggregateError's members (Promise.any, Promise.allSettled users), each with its own throw's capture. */
  private members(err: unknown, lookup: (e: unknown) => Capture | undefined, redactions: string[], shown: number): DumpMember[] | null {
    const list = (err as { errors?: unknown } | null)?.errors;
    if (!isAggregate(err) || !Array.isArray(list)) return null;
    return list.slice(0, MAX_MEMBERS).map((m, i) => {
      const c = lookup(m);
      if (c && i !== shown) redactions.push(...c.redactions.map((r) => `${r} of member ${i}`)); // the shown member's are the dump's own
      const frames = (c ? fromCapture(c) : stackFrames(m, this.frameCap)).slice(0, MEMBER_FRAMES);
      const culprit = culpritIndex(frames);
      if (culprit >= 0) frames[culprit]!.culprit = true;
      const info = errorInfo(m);
      const at = frames[culprit];
      return {
        error: { ...info, message: this.redactor.query(info.message, redactions, `member ${i} message`), causes: [], ...((f) => (f ? { fields: f } : {}))(this.errorFields(m, redactions)) },
        ...(at ? { site: `${at.file}:${at.line}` } : {}),
        captured: Boolean(c),
        culprit,
        frames,
      };
    });
  }
}
