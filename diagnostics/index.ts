// Debug mode's diagnostics layer (loaded only when debug is on): owns the capturer, the dump
// builder and the sinks, and implements the DiagnosticsHook the server reports failures to.
import { githubContext } from './github.js';
import { CLUSTER_RUN_ENV, SITE_CLAIMS_ENV, WORKER_INDEX_ENV, WORKER_PHASE_ENV, stderrIsTerminal } from '../server/shared-names.js';
import { DEFAULTS } from '../server/option-records.js';
import { dumpWork } from '../server/own-work.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isNativeError } from 'node:util/types';
import type { DebugCaptureStats, DiagnosticsHook, ReportContext, Reported } from '../server/debug-hook-types.js';
import { Attribution, type CallRecord, type HeldRepeat } from './attribution.js';
import { installAppStacks, uninstallAppStacks } from './app-stacks.js';
import { Capturer, LOOK_SKIPPED, answeringFrame, type Capture } from './capture.js';
import { DumpBuilder, errorInfo, isAggregate, thrownWithoutAppFrame } from './dumps.js';
import { stackFrames } from './stack-text.js';
import { madeKey } from './made-at.js';
import { FailureFolder } from '../server/logger.js';
import type { Dump, DumpPhase, ResponseCut } from './model.js';
import { Redactor, oneLine } from './redact.js';
import { renderText } from './render.js';
import { Sinks } from './sinks.js';
import { shapeOf } from './site-mutes.js';
import type { StormLimits } from './error-storm.js';
import { traceOf } from '../server/otel.js';
import { DumpDelivery, type OnDump } from './dump-delivery.js';
import type { Logger } from 'pino';
import { setServerErrorHeadHandler } from '../server/node-http.js';
import { readText } from '../server/error-stand-in.js';

export interface DiagnosticsOptions {
  /** Frames per dump. */
  frames: number;
  /** Extra secret-name pattern (a regular expression source). */
  redact: string | null;
  /** Dump folder; default TSPUMA_DUMP_DIR, or ./tspuma-dumps when CI=true. */
  dir: string | null;
  /** Where dir was set ("TSPUMA_DUMP_DIR in environment"), for the warning when it cannot be used. */
  dirSource?: string;
  maxFiles: number;
  env: NodeJS.ProcessEnv;
  /** Where text goes (stderr). */
  write: (text: string) => void;
  colour: boolean;
  /** Logged when capture itself fails. */
  onInternalError: (err: unknown) => void;
  /** Watch console.error inside app calls (errors a framework logs for the 5xx it answers). */
  watchConsole?: boolean;
  /** The capture budget's and error-storm back-off's clock (ms; performance.now by default): tests move it by hand. */
  now?: () => number;
  /** The error-storm back-off's limits (error-storm.ts's STORM_LIMITS by default). */
  storm?: StormLimits;
}

const NEVER_THROWN =
  'no throw of this error was captured: it was created and handed on without a throw in app code (next(err), returned, logged, or thrown inside a library), so the frames are where it was created, from its stack, and values are not obtainable';

/** The note of a failure thrown while another debugger session had switched pausing at throws off. */
const PAUSING_TAKEN =
  "no values were captured: V8 did not pause at this throw, because another debugger session attached to this process (a DevTools client on the process's own inspector port) had set pause-on-exceptions to none, a state V8 keeps once for all sessions; debug mode has set it back, so the next failures have their values. The frames are from the error's stack";

/** A dumped failure whose muted repeats started an error-storm back-off (Sinks.repeat's answer). */
type StormOf = { first: Dump; path: string | null; elsewhere: boolean };

/**
 * That failure as the back-off's line and note name it: by its dump's number when this process
 * printed it, else by its place and the other worker's file (this process's number for it was
 * never shown: review20.10).
 */
function stormFailure(of: StormOf, withFile: boolean): string {
  if (!of.elsewhere) return `the failure of dump #${of.first.id} (at ${of.first.site})`;
  return `the failure at ${of.first.site} that another worker dumped${withFile && of.path ? ` (${of.path})` : ''}`;
}

/** The note of a failure reported while pausing was off for an error-storm back-off (error-storm.ts). */
function stormNote(storm: StormOf | null, perSecond: number): string {
  return `no values were captured: this failure came while pausing at throws was off for an error-storm back-off (${storm ? `${storm.elsewhere ? stormFailure(storm, false) : `the failure of dump #${storm.first.id}`} repeated` : 'muted repeats came'} more than ${perSecond} times a second in muted functions), so V8 did not pause at its throw; the frames are from its stack. Pausing is on again from this report, so its next throw is captured and dumped with its values`;
}

/** The note of the first captured dump of a failure first dumped during a back-off. */
function afterStormNote(first: { id: number; storm: boolean }): string {
  const why = first.storm ? 'it came during an error-storm back-off (pausing at throws off)' : 'it came from a function muted after another failure there repeated, or was never thrown in app code';
  return `its first throw was not paused at: ${why} and is dump #${first.id}, without values; this is a later throw of the same failure, paused at and captured`;
}

const MAYBE_MUTED =
  'no throw of this error was captured: either it was never thrown in app code (created and handed on: next(err), returned, logged), or it was thrown in a function where pausing was muted because a failure there had just been captured and repeated; muting is lifted now, so the next throw there is captured. The frames are where it was created, from its stack';

/** The first frame of an error's stack text: its `file:line` is a dump's site for a throw in app code. */
function stackTop(err: unknown): { site: string; column: number } | undefined {
  try {
    const top = stackFrames(err, 1)[0];
    return top ? { site: `${top.file}:${top.line}`, column: top.column } : undefined;
  } catch {
    return undefined;
  }
}

/** A stack text a framework logged (Express logs err.stack in some versions) as an error-like value. */
function fromStackText(text: string): { name: string; message: string; stack: string } {
  const first = text.split('\n', 1)[0]!;
  const m = /^(\w*(?:Error|Exception)\w*):\s?(.*)$/.exec(first);
  return { name: m?.[1] ?? 'Error', message: m ? m[2]! : first, stack: text };
}

/**
 * The run under which a worker claims dump sites: its cluster's run id and its phase. A phased or
 * hot restart loads the app again (a deploy meant to fix a failure), so its workers dump a site
 * the previous phase dumped; a worker respawned in the same phase (a crash loop) does not.
 */
export function claimRun(env: NodeJS.ProcessEnv): string | null {
  const run = env[CLUSTER_RUN_ENV];
  return run ? `${run}-phase${env[WORKER_PHASE_ENV] ?? '0'}` : null;
}

/** V8 does not pause at a stack overflow (there is no stack left to run the pause on). */
const STACK_OVERFLOW =
  'a stack overflow: V8 does not pause at one, so no values were captured; the frames are the deepest of its stack, from its text, where the recursion repeats';

function isStackOverflow(err: Error): boolean {
  return err instanceof RangeError && err.message === 'Maximum call stack size exceeded';
}

/** The note of a 5xx the app answered with only an error V8 saw thrown, uncaptured, to go by. */
function seenNote(status: number, seen: unknown, frames: number): string {
  const inside = thrownWithoutAppFrame(seen, frames);
  return `the app answered ${status} itself and logged no error object (only its message, or nothing); this is the last error thrown in its work, not captured because V8 paused at it with no app frame on the stack${inside ? `: ${inside}` : ''}`;
}

/** What report() is told of a failure. */
type DumpContext = ReportContext & { response?: { status: number }; note?: string; site?: string; call?: CallRecord };

/**
 * A plain stand-in for an error that could not be dumped because reading it threw (`failed`): the
 * properties a dump reads that can be read, and a message saying which one threw.
 */
export function standIn(err: unknown, failed: unknown): { name: string; message: string; stack: string } {
  const field = (key: 'name' | 'message' | 'stack', fallback: string) => readText(() => (err as Record<string, unknown> | null)?.[key], fallback);
  const why = readText(() => (failed instanceof Error ? `${failed.name}: ${failed.message}` : failed), 'an unreadable value');
  const message = field('message', '');
  return {
    name: field('name', 'Error'),
    message: `${message ? `${message} ` : ''}(reading this error for its dump threw ${why})`,
    stack: field('stack', '').replace(/^[^\n]*/, ''),
  };
}

/** The note of an error logged in a request's work although its response went out with this status. */
function afterResponseNote(status: number): string {
  return `the response (${status}) had already been sent, or was sent regardless: the app or its framework logged this error in the request's work (Express logs one it can no longer answer for, such as ERR_HTTP_HEADERS_SENT, and closes the connection)`;
}

/** The note of an error in the work of a response that was cut after its head. */
function cutNote(status: number): string {
  return `the head (${status}) and part of the body had gone out when this error was thrown in the request's work, and the connection was then closed: the client holds a truncated ${status} (curl: "transfer closed with outstanding read data"); a load balancer's log shows a ${status}`;
}

/** The note of a response a stream destroyed after its head with an error nobody threw (review10.4). */
function cutByStreamNote(status: number): string {
  return `the head (${status}) and part of the body had gone out when a stream destroyed the response with this error, and the connection was closed: the client holds a truncated ${status} (curl: "transfer closed with outstanding read data"). ${NEVER_THROWN[0]!.toUpperCase()}${NEVER_THROWN.slice(1)}`;
}

/** Error codes that say the client left (request-lifecycle.ts's CLIENT_GONE): its hang-up, not a failure. */
const CLIENT_LEFT = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNABORTED']);

/** The note of an error logged in a request's work whose response was destroyed before its head. */
const NO_RESPONSE_NOTE = "no response was sent: the response was destroyed before its head (a stream piped into it failed, as pipeline(…, res) does with a missing file, or the app destroyed it), and the app or its framework logged this error in the request's work; the client saw its connection close with no answer";

/** The note of a 5xx the app answered with no error tspuma could see. */
function noErrorNote(status: number, said: boolean): string {
  return `the app answered ${status} itself and no error reached tspuma: nothing was thrown in its work that tspuma saw, no error was logged${said ? ' (only the text above)' : ''} and none was held by the code that answered`;
}

/**
 * Whether a call saw two or more errors rejected in its promises: the error its code answers for
 * may then be one made of them that no JavaScript threw (Promise.any's AggregateError, which V8
 * makes and rejects with itself), held only by that code (an error middleware's `err`), and not its
 * last captured throw, a member (review9.6). A call with one failure pays no look.
 */
function severalRejected(record: CallRecord): boolean {
  const rejected = new Set<unknown>();
  for (const t of record.thrown) if (t.capture?.reason === 'promiseRejection' || (t.capture === null && t.site !== null)) rejected.add(t.value);
  return rejected.size >= 2;
}

/** The note of a 5xx the app answered after a throw it caught in its own code. */
export function caughtInAppNote(status: number, caughtBy: string): string {
  return `the app answered ${status} itself and neither it nor its framework logged or handed tspuma an error; the last throw in this request, below, was caught by the app's own try at ${caughtBy}, so it may not be why the app answered ${status}`;
}

/**
 * An Error that is not a native one (V8's own error object) yet inherits from Error: node rebuilt
 * it from another thread (a Worker's 'error' event). Where it was made is its stack's, the worker's.
 */
const MADE_IN_THREAD =
  "made in another thread (a worker_threads worker): the frames are the worker's, from the error's stack, where it was made; values are not obtainable across threads (dump the worker's own failures with -d in it)";

/**
 * A report's answer. Its text is rendered when first read (the development error page reads it):
 * a counted repeat in production, or a failure no page shows, renders nothing. A class: an object
 * literal with a spread and a getter, made at every reported repeat, was built through a map
 * migration each time (bench/README.md, session 16).
 */
class Report implements Reported {
  declare readonly text: string;
  declare readonly problem?: string;
  #sinks: Sinks;
  #rendered: string | null = null;

  declare readonly own?: true;
  declare readonly elsewhere?: true;

  constructor(
    readonly dump: Dump,
    readonly path: string | null,
    readonly repeat: boolean,
    sinks: Sinks,
    problem?: string,
    of?: RepeatOf,
  ) {
    this.#sinks = sinks;
    if (problem) this.problem = problem;
    if (of?.own) (this as { own?: true }).own = true;
    if (of?.elsewhere) (this as { elsewhere?: true }).elsewhere = true;
    // An own key, as env['tspuma.dump'] is documented (dump, text, path, repeat): one shared getter,
    // so every Report goes through the same map transitions.
    Object.defineProperty(this, 'text', REPORT_TEXT);
  }

  static render(r: Report): string {
    return (r.#rendered ??= renderText(r.dump, false, r.#sinks.valuesWhere(r.path)));
  }
}

/** Report's own `text`: rendered when first read. */
const REPORT_TEXT: PropertyDescriptor = {
  enumerable: true,
  get(this: Report): string {
    return Report.render(this);
  },
};

/** Whose dump a repeat's report hands back (Reported's `own` and `elsewhere`). */
type RepeatOf = { own?: boolean; elsewhere?: boolean };

function reported(dump: Dump, path: string | null, repeat: boolean, sinks: Sinks, problem?: string, of?: RepeatOf): Reported {
  return new Report(dump, path, repeat, sinks, problem, of);
}

export const DIAGNOSTICS_DEFAULTS = { maxFiles: 100, perSiteMs: 60_000, globalPerSecond: 20 } as const;

/** The dump folder: the `dumpDir` option (TSPUMA_DUMP_DIR is its environment variable), else ./tspuma-dumps in CI. */
export function dumpDirFrom(env: NodeJS.ProcessEnv, explicit: string | null): string | null {
  if (explicit) return explicit;
  if (env.CI === 'true' || env.CI === '1') return 'tspuma-dumps';
  return null;
}

/** Where dumpDirFrom's folder came from, in the words of a warning about it. */
export function dumpDirSource(explicit: string | null, explicitSource: string | undefined): string {
  return explicit ? (explicitSource ?? 'dumpDir') : 'CI=true: the default ./tspuma-dumps';
}

export class Diagnostics implements DiagnosticsHook {
  readonly capturer: Capturer;
  readonly sinks: Sinks;
  private readonly builder: DumpBuilder;
  private readonly ci: boolean;
  private closed = false;
  /** A dump site (file:line) -> the column of its first error's stack top: see mutedSite in reportOnce. */
  private readonly firstColumns = new Map<string, number>();
  /**
   * Where a muted repeat's stack text starts (stackTop), by where V8 says its top frame was made
   * (made-at.ts): the text's first frame is that frame's, so a repeat made at a position seen before
   * starts where that one did, and its stack is not formatted (node maps every frame through source
   * maps: ~140 µs a repeat, session 21's debug16.1, against a few µs for the key).
   */
  private readonly tops = new Map<string, { site: string; column: number } | undefined>();
  /** Cluster worker index (from TSPUMA_WORKER_INDEX), null in single mode and the primary. */
  private readonly worker: number | null;

  /** Dump site -> its dump made without values where the next throw pauses (during an error-storm back-off, or after lifting the mutes): that capture is dumped again, with them. */
  private readonly stormDumps = new Map<string, { id: number; storm: boolean }>();
  /** The dump whose muted repeats started the latest back-off. */
  private stormOf: StormOf | null = null;
  /** When the last back-off line was written, and back-offs since it (backedOffLine). */
  private stormLine = { at: Number.NEGATIVE_INFINITY, since: 0 };
  /** The last failure's exact kind, by its name and message (exactKind). */
  private lastKind: { name: string; message: string; kind: string } | null = null;

  constructor(private readonly opts: DiagnosticsOptions) {
    const index = opts.env[WORKER_INDEX_ENV];
    this.worker = index !== undefined && /^\d+$/.test(index) ? Number(index) : null;
    const redactor = new Redactor(opts.redact);
    this.capturer = new Capturer({ frames: opts.frames, perSiteMs: DIAGNOSTICS_DEFAULTS.perSiteMs, globalPerSecond: DIAGNOSTICS_DEFAULTS.globalPerSecond }, redactor, opts.onInternalError, {
      context: () => this.attribution.current(),
      noteThrown: (record, thrown) => this.attribution.noteThrown(record, thrown),
      noteSeen: (record, value) => this.attribution.noteSeen(record, value),
      dumped: (site) => this.sinks.has(site),
      count: (site) => this.sinks.count(site),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.storm ? { storm: opts.storm } : {}),
    });
    this.builder = new DumpBuilder(redactor, opts.frames);
    this.ci = opts.env.CI === 'true' || opts.env.CI === '1';
    this.sinks = new Sinks({
      dir: dumpDirFrom(opts.env, opts.dir),
      dirSource: dumpDirSource(opts.dir, opts.dirSource),
      env: opts.env,
      maxFiles: opts.maxFiles,
      githubActions: opts.env.GITHUB_ACTIONS === 'true',
      github: githubContext(opts.env),
      colour: opts.colour,
      write: opts.write,
      run: this.worker === null ? null : claimRun(opts.env),
      claims: this.worker === null ? null : (opts.env[SITE_CLAIMS_ENV] ?? null),
      who: this.worker === null ? null : `worker ${this.worker} (PID ${process.pid})`,
    });
    // Node's source maps are left as the app's loading sets them (the TypeScript loader turns them
    // on; a .js app gets them with --enable-source-maps): turned on here, they also mapped the
    // modules loaded after this point, so the app's stack texts differed with -d (T6). Dump frames
    // are mapped by sourcemap.ts, which does not need them.
    installAppStacks();
    this.capturer.start();
    if (opts.watchConsole !== false) this.watchConsole();
    setServerErrorHeadHandler((res) => this.answering(res));
  }

  /**
   * A 5xx head is about to go out. Inside an app call that has handed tspuma no error (nothing
   * captured in app code, no error logged), the code answering is still on the stack: an error
   * handler holding the error in a local (Express's error middleware `err`, a catch block) is
   * where a failure V8 could not pause at (a stack overflow) or did not capture shows itself.
   */
  private answering(res: ServerResponse): void {
    const record = this.attribution.current();
    if (record && record.res === res) this.lookForHeld(record);
  }

  /**
   * Looks once for the error held by the code running in a call that has handed tspuma no error:
   * as it answers a 5xx, or as it logs text with no error in it (an error handler logging
   * `err.message`; Hono's app.onError returns its 500 to be written later, when it is gone).
   *
   * The look is a pause. A muted site's repeats (V8 does not pause at their throws) reach an app's
   * own error middleware with nothing captured, and each looked again to find the same site's
   * error (debug13.1). So a look that finds a muted site's error is remembered by where it was
   * made (the answering app frame's position, the request's method and path): while that site is
   * muted (and pausing on, and its dump held), the same answer there is a repeat of it without a
   * look. What it cannot tell: another error answered at that frame for that method and path with
   * nothing captured (made and passed on, never thrown, or thrown in another muted function) is
   * counted as that site's repeat until the mute ends (its window, or any uncaptured report
   * unmuting everything).
   */
  private lookForHeld(record: CallRecord): void {
    if (record.reported || record.quiet?.held) return;
    if (record.logged.some((l) => typeof l === 'object')) return;
    if (this.lastThrow(record)?.capture && !severalRejected(record)) return;
    // During an error-storm back-off no look can be made, but a muted site's repeat answered at the
    // frame a look found it at is still told (else each would be a 5xx with no error, ending it).
    if (!this.capturer.pausingNow && !this.capturer.backedOff) return;
    const answering = answeringFrame();
    const at = answering ? `${answering} ${record.req.method ?? ''} ${record.url.split('?', 1)[0]}` : null;
    const known = at === null ? undefined : this.heldSites.get(at);
    if (known !== undefined && this.capturer.mutes.hasSite(known.site) && this.sinks.has(known.site)) return this.attribution.noteHeldRepeat(record, known);
    if (!this.capturer.pausingNow) return;
    const held = this.capturer.heldError(answering);
    if (held === LOOK_SKIPPED) this.attribution.noteUnlooked(record);
    else if (held !== undefined) this.attribution.noteHeld(record, held, at);
  }

  /** Where a look found a muted site's error (lookForHeld's key) -> that site (bounded). */
  private readonly heldSites = new Map<string, HeldRepeat>();

  /** Reports the error the code that answered held, or counts the repeat lookForHeld took it for. */
  private reportHeld(record: CallRecord, held: NonNullable<NonNullable<CallRecord['quiet']>['held']>, ctx: DumpContext): void {
    if ('of' in held) {
      // Its dump was held as the head went out; counted, or (dropped since) not known.
      const known = this.sinks.repeat(held.of.site, held.of.error);
      if (known) {
        record.reported = true;
        this.mutedRepeat(known);
      }
      return;
    }
    const r = this.report(held.value, ctx);
    if (held.at === null || !r.repeat || !this.capturer.mutes.hasSite(r.dump.site)) return;
    if (this.heldSites.size >= 1000 && !this.heldSites.has(held.at)) this.heldSites.delete(this.heldSites.keys().next().value!);
    this.heldSites.set(held.at, { site: r.dump.site, error: { name: r.dump.error.name, message: r.dump.error.message } });
  }

  private readonly attribution = new Attribution(
    (record) => this.loggedLate(record),
    (record) => this.lookForHeld(record),
  );

  /** An error logged in a call's work after its response closed with a status below 400. */
  private loggedLate(record: CallRecord): void {
    const res = record.res;
    if (record.reported || !res) return;
    if (!res.headersSent) {
      // Destroyed before its head: the client got nothing (Express logs the error passed to next()).
      if (res.destroyed) setImmediate(() => this.explainNoResponse(record));
      return;
    }
    // What went out: an error middleware may have set res.statusCode to 500 since (N13).
    const status = record.sentStatus || res.statusCode;
    if (status >= 400) return;
    // The framework's own log may follow in the same turn: decide once it has run.
    setImmediate(() => {
      if (!record.reported) this.explainAfterResponse(record, status);
    });
  }
  /** Failure kind (FailureFolder.kindOf) -> the site of its dump, for repeats with nothing captured. */
  private readonly kinds = new Map<string, { site: string; shared?: true }>();

  /** Undoes watchConsole() at close, unless something replaced console.error since. */
  private unwatchConsole: (() => void) | null = null;

  /** console.error inside an app call notes the errors it prints (the app's output is unchanged). */
  private watchConsole(): void {
    const original = console.error;
    const attribution = this.attribution;
    const watching = function (this: unknown, ...args: unknown[]) {
      try {
        attribution.noteLogged(args);
      } catch {
        /* never in the way of the app's own logging */
      }
      return original.apply(this, args);
    };
    console.error = watching;
    this.unwatchConsole = () => {
      if (console.error === watching) console.error = original;
    };
  }

  enterCall(req: IncomingMessage, res: ServerResponse): CallRecord | undefined {
    return this.attribution.enter(req, res);
  }

  leaveCall(before: unknown): void {
    this.attribution.leave(before as CallRecord | undefined);
  }

  settled(req: IncomingMessage, res: ServerResponse, cut?: ResponseCut): void {
    const record = this.attribution.of(req);
    if (!record) return;
    this.attribution.forget(req);
    if (record.reported) return;
    if (cut) {
      // Cut after its head (N27): the client holds a truncated response. An error in its work (a
      // framework's final handler closes the connection for one after the head) is dumped as what
      // cut it, once its framework has logged it (Express does, as it closes).
      const status = (record.sentStatus = res.statusCode);
      // Nothing thrown or logged in its work may still be a failure (review10.4): a framework logs
      // the error just after (Express's final handler, in a setImmediate queued before this close),
      // or a stream that destroyed itself with an error took the response down with it (pipeline(),
      // pipe() then res.destroy(err)) and the error is its socket's. Decided once those have run.
      const errored = record.logged.length === 0 && record.thrown.length === 0 ? (req.socket as { errored?: unknown } | null)?.errored : undefined;
      this.attribution.keepRemote(record);
      setImmediate(() => this.explainCut(record, status, cut, errored));
      return;
    }
    // The request was cut off before it had all arrived (node's `aborted`: the client hung up
    // mid-body) and no answer went out whole: whatever the app then answered, or logged (multer's
    // `Request aborted` handed to an error middleware as a 500), is that hang-up's consequence, and
    // reached no one (N7).
    if ((req as { aborted?: boolean }).aborted === true && !res.writableFinished) return;
    if (!res.headersSent) {
      // Closed with no response: a failure when the call logged an error (now, or later: loggedLate).
      if (!res.destroyed) return;
      this.attribution.keepRemote(record);
      // Its error may have been logged just before, or be logged next, from an I/O callback.
      this.attribution.closedWithoutAnswer(record);
      if (record.logged.length > 0) setImmediate(() => this.explainNoResponse(record));
      return;
    }
    const status = (record.sentStatus = res.statusCode);
    // Below 500, a call that logged an error may have failed after its response went out
    // (Express logs the ERR_HTTP_HEADERS_SENT of a route writing after res.send()); one that logs
    // one later is explained then (loggedLate). A 4xx is the app's answer to the client.
    if (status < 500 && (status >= 400 || record.logged.length === 0)) return;
    this.attribution.keepRemote(record); // the socket may be closed by the time explain() runs
    // A framework may log the error it answered for just after the response (Express does, in a
    // setImmediate): decide once that has run.
    setImmediate(() => this.explain(record, status));
  }

  /** The last throw in the call with a capture in app code, then any capture, then a repeat. */
  private lastThrow(record: CallRecord): CallRecord['thrown'][number] | undefined {
    const thrown = [...record.thrown].reverse();
    return thrown.find((t) => t.capture && t.capture.frames.some((f) => !f.library)) ?? thrown.find((t) => t.capture) ?? thrown.find((t) => t.site);
  }

  currentRequest(): IncomingMessage | null {
    return this.attribution.current()?.req ?? null;
  }

  capturedThrow(req: IncomingMessage): unknown {
    const record = this.attribution.of(req);
    return record ? this.lastThrow(record)?.value : undefined;
  }

  /** The dump of a 5xx the app answered itself: the error behind it, as well as can be told. */
  private explain(record: CallRecord, status: number): void {
    if (record.reported) return;
    if (status < 500) return this.explainAfterResponse(record, status);
    const ctx = { phase: 'app' as const, request: record.req, response: { status }, call: record };
    // The error the app or its framework logged is the one it answered for.
    for (let i = record.logged.length - 1; i >= 0; i--) {
      if (typeof record.logged[i] === 'object') return void this.report(record.logged[i], ctx);
    }
    // The error the code that answered held (an error handler's `err`): a stack overflow, which
    // V8 never pauses at, is found here.
    const held = record.quiet?.held;
    if (held) return this.reportHeld(record, held, ctx);
    const pick = this.lastThrow(record);
    // A throw the app caught in its own try (a cache miss) may have nothing to do with the 5xx it
    // chose to answer (a maintenance 503): the dump says so rather than naming it the cause.
    const caughtBy = pick?.capture?.caughtBy;
    if (pick && caughtBy) return void this.report(pick.value, { ...ctx, note: caughtInAppNote(status, caughtBy) });
    if (pick) return void this.report(pick.value, ctx);
    const last = record.logged[record.logged.length - 1];
    if (last !== undefined) return void this.report(typeof last === 'string' ? fromStackText(last) : last, { ...ctx, note: NEVER_THROWN });
    // Nothing captured or logged: the last error V8 paused at in the call with no app frame on the
    // stack (Hono's c.req.json() parsing a malformed body), as the likely cause, saying so.
    const seen = record.quiet?.seen.at(-1);
    if (seen !== undefined) return void this.report(seen, { ...ctx, note: seenNote(status, seen, this.opts.frames) });
    // No error reached tspuma at all: the dump says that, with what the app logged, if anything.
    // Unless a look was skipped in a storm of such answers: then that is not known.
    if (record.quiet?.unlooked) return;
    const said = record.quiet?.said;
    const url = record.url.split('?', 1)[0];
    this.report(
      { name: 'Response', message: `the app answered ${record.req.method ?? ''} ${url} with ${status}${said === undefined ? '' : `; it logged: ${said}`}`, stack: '' },
      { ...ctx, note: noErrorNote(status, said !== undefined), site: `answered ${status}: ${record.req.method ?? ''} ${url}` },
    );
  }

  /**
   * The dump of a response cut after its head: the error its work logged, else its last throw, else
   * the error its socket was destroyed with (`errored`: never thrown, so from its stack).
   */
  private explainCut(record: CallRecord, status: number, cut: ResponseCut, errored?: unknown): void {
    if (record.reported) return;
    const ctx = { phase: 'app' as const, request: record.req, response: { status, cut }, call: record, note: cutNote(status) };
    const last = record.logged[record.logged.length - 1];
    if (typeof last === 'object' && last !== null) return void this.report(last, ctx);
    const pick = this.lastThrow(record);
    if (pick) return void this.report(pick.value, ctx);
    if (typeof last === 'string') return void this.report(fromStackText(last), ctx);
    const code = (errored as { code?: unknown } | null | undefined)?.code;
    if (isNativeError(errored) && !(typeof code === 'string' && CLIENT_LEFT.has(code))) this.report(errored, { ...ctx, note: cutByStreamNote(status) });
  }

  /**
   * A response that went out fine (below 400) from a call in which the app or its framework then
   * logged an error: a failure all the same (a write after the response, ERR_HTTP_HEADERS_SENT),
   * dumped from that error, or from the call's last captured throw when what was logged is its
   * stack text. Nothing logged: the app handled what it threw, and there is no dump.
   */
  private explainAfterResponse(record: CallRecord, status: number): void {
    // The first throw of the logged error's kind in app code is where it began: an error middleware
    // answering for a write after the response (its res.status().json()) throws the same
    // ERR_HTTP_HEADERS_SENT again, and that second one is what Express logs (N13).
    const last = record.logged[record.logged.length - 1];
    const code = typeof last === 'object' && last !== null ? (last as { code?: unknown }).code : undefined;
    // A write that failed because the client left (a feed or an event stream whose reader went
    // away, the app logging its write's error): a hang-up, not the app's failure.
    if (typeof code === 'string' && CLIENT_LEFT.has(code)) return;
    const first = typeof code === 'string' ? record.thrown.find((t) => t.capture && (t.value as { code?: unknown } | null)?.code === code && t.capture.frames.some((f) => !f.library)) : undefined;
    if (first) return void this.report(first.value, { phase: 'app', request: record.req, response: { status }, call: record, note: afterResponseNote(status) });
    this.explainLogged(record, { status }, afterResponseNote(status));
  }

  /**
   * A response destroyed before its head, in a call whose work logged an error: dumped from that
   * error. Not when that error says the client left (a hang-up also closes a response with no head,
   * and a pipeline into it then fails with ERR_STREAM_PREMATURE_CLOSE, which Express logs).
   */
  private explainNoResponse(record: CallRecord): void {
    const last = record.logged[record.logged.length - 1];
    const code = typeof last === 'object' && last !== null ? (last as { code?: unknown }).code : undefined;
    if (record.reported || (typeof code === 'string' && CLIENT_LEFT.has(code))) return;
    // Nor when the connection closed before the request's body had all arrived (N7): what the app
    // logs after that (Hono's default onError printing the body read's AbortError, once the response
    // is gone) is the hang-up's consequence (review11.4). `aborted` alone is also set for a complete
    // request whose response the app destroyed (a pipeline of a missing file): that one is dumped.
    if (record.req.aborted && !record.req.complete) return;
    this.explainLogged(record, null, NO_RESPONSE_NOTE);
  }

  /** The dump of the last error the call logged (or of its captured throw, when the log was its stack text). */
  private explainLogged(record: CallRecord, response: { status: number } | null, note: string): void {
    const last = record.logged[record.logged.length - 1];
    if (last === undefined) return;
    const ctx = { phase: 'app' as const, request: record.req, ...(response ? { response } : {}), call: record, note };
    if (typeof last === 'object') return void this.report(last, ctx);
    const pick = this.lastThrow(record);
    this.report(pick?.capture ? pick.value : fromStackText(last as string), ctx);
  }

  scope<T>(phase: DumpPhase, fn: () => T): T {
    return this.capturer.scope(phase, fn);
  }

  enter(phase: DumpPhase): void {
    this.capturer.enter(phase);
  }

  serving(): void {
    this.capturer.serving();
  }

  leave(): void {
    this.capturer.leave();
  }

  snapshot(phase: DumpPhase): unknown {
    return this.capturer.snapshot(phase);
  }

  report(err: unknown, ctx: DumpContext): Reported {
    // A repeat told by its kind alone (most of what a hot failing site reports) builds nothing: it
    // is counted without being timed as dump work (two clock reads and a record a repeat).
    try {
      const counted = this.countedByKind(err, ctx);
      if (counted !== null) return counted;
    } catch (failed) {
      return dumpWork(() => this.reportOnce(standIn(err, failed), ctx)); // as reportGuarded
    }
    return dumpWork(() => this.reportGuarded(err, ctx));
  }

  /**
   * reportOnce's answer for an app failure it counts by its kind (class and message) while pausing
   * is on: one with no note, snapshot or site of its own and nothing captured for it, of the kind
   * of a dump's first error. Null for any other failure (reportOnce decides).
   */
  private countedByKind(err: unknown, ctx: DumpContext): Reported | null {
    if (ctx.phase !== 'app' || ctx.note !== undefined || ctx.snapshot !== undefined || ctx.site !== undefined || ctx.final === true) return null;
    if (err === null || typeof err !== 'object') return null;
    // Pausing off: for the global rate's backoff a kind is not enough (kindSite, review10.6); for
    // an error-storm back-off neither is it for the first failure of each, then one in
    // STORM_CHECK_EVERY (error-storm.ts): reportOnce tells those by where their stack starts.
    const paused = this.capturer.pausingNow;
    if (!paused && (!this.capturer.backedOff || this.capturer.storm.checkDue())) return null;
    if (this.capturer.captureFor(err) !== undefined || this.capturer.siteFor(err) !== undefined) return null;
    // A kind two sites' dumps share names neither (debug22.4): reportOnce tells it by its stack.
    const site = this.soleSite(this.exactKind(err));
    const known = site === undefined ? null : this.sinks.repeat(site, () => errorInfo(err));
    if (known === null) return null;
    if (paused) this.mutedRepeat(known);
    return this.counted(known, ctx);
  }

  /**
   * FailureFolder.kindOf(err, '', true), the last one kept by its name and message: a hot site's
   * repeats have the same ones, so its kind is not made (a concatenation, flattened and hashed as
   * the kinds' key) again at each (debug20: ~1,000 instructions a repeat).
   */
  /** The site of the one dump of this kind; undefined when none, or when the dumps of two sites share it (debug22.4). */
  private soleSite(kind: string): string | undefined {
    const known = this.kinds.get(kind);
    return known === undefined || known.shared === true ? undefined : known.site;
  }

  private exactKind(err: object): string {
    let name: unknown;
    let message: unknown;
    try {
      name = (err as { name?: unknown }).name;
      message = (err as { message?: unknown }).message;
    } catch {
      return FailureFolder.kindOf(err, '', true);
    }
    const last = this.lastKind;
    if (last !== null && last.name === name && last.message === message) return last.kind;
    const kind = FailureFolder.kindOf(err, '', true);
    this.lastKind = typeof name === 'string' && typeof message === 'string' ? { name, message, kind } : null;
    return kind;
  }

  /**
   * A repeat of `known.first` was counted with nothing paused at while pausing is on (a muted function's
   * throw): towards an error-storm back-off, whose start is logged (backedOffLine).
   */
  private mutedRepeat(known: StormOf): void {
    if (!this.capturer.pausingNow || !this.capturer.mutedRepeat()) return;
    this.stormOf = { first: known.first, path: known.path, elsewhere: known.elsewhere };
    this.backedOffLine(this.stormOf);
  }

  /**
   * The line of a back-off: what and why, at most once a minute (a storm that goes on backs off
   * about once a second); the next line says how many back-offs there were since.
   */
  private backedOffLine(of: StormOf): void {
    const first = of.first;
    const now = this.opts.now ? this.opts.now() : performance.now(); // the back-off's own clock
    if (now - this.stormLine.at < 60_000) {
      this.stormLine.since++;
      return;
    }
    const since = this.stormLine.since;
    this.stormLine = { at: now, since: 0 };
    const limits = this.capturer.storm;
    const text = `debug capture: pausing at throws is off for ${limits.periodMs / 1000} s: ${stormFailure(of, true)} repeated more than ${limits.perSecond} times in a second, in muted functions where V8 does not pause but still pays its exception event at each throw. A failure of another kind turns pausing on again at once${since > 0 ? `; ${since} more back-off(s) since the last such line` : ''}`;
    const record = { debugBackoff: { dump: of.elsewhere ? null : first.id, site: first.site, ...(of.elsewhere ? { path: of.path } : {}), periodMs: limits.periodMs, perSecond: limits.perSecond, since }, ...(this.worker !== null ? { worker: this.worker } : {}) };
    if (this.log) this.log.warn(record, text);
    else this.opts.write(`tspuma: ${text}\n`);
  }

  /** A counted repeat's answer: its request is reported (no dump of its own at its end). */
  private counted(known: { path: string | null; first: Dump; elsewhere: boolean }, ctx: DumpContext): Reported {
    const request = ctx.request ?? null;
    const record = request ? this.attribution.of(request) : undefined;
    if (record) record.reported = true;
    return this.repeatOf(known.first, known.path, known.elsewhere);
  }

  private reportGuarded(err: unknown, ctx: DumpContext): Reported {
    try {
      return this.reportOnce(err, ctx);
    } catch (failed) {
      // An error whose own message, stack or name getter throws (the app's): dumped through a
      // stand-in that says so, instead of taking the process down inside its failure path.
      return this.reportOnce(standIn(err, failed), ctx);
    }
  }

  /**
   * The site of the dump a failure of this kind (class and message) went into, for one reported
   * with nothing captured. With pausing on, V8 pauses in every function not muted, so such a
   * failure is the muted function's own (or was never thrown). With pausing off (a backoff: throws
   * over the global rate) another function's failure of that kind would be taken for it and never
   * dumped: a generic message (`Cannot read properties of undefined (reading 'id')`) is shared by
   * unrelated sites (review10.6). Then the site its stack starts at decides: a repeat of the dump
   * there, if any (the kind's latest dump may be another function's), else a failure of its own.
   * So too with pausing on for a kind the dumps of two sites share (`shared`): two muted
   * functions failing alike, each repeat would have been counted against the latest dump
   * (debug22.4).
   */
  private kindSite(kind: string, err: unknown): string | undefined {
    const known = this.kinds.get(kind);
    if (known === undefined) return undefined;
    if (this.capturer.pausingNow && known.shared !== true) return known.site;
    return this.topOf(err)?.site ?? known.site;
  }

  /** stackTop of a muted repeat, through `tops` when its top frame's position can be read without its text. */
  private topOf(err: unknown): { site: string; column: number } | undefined {
    const key = madeKey(err, 1);
    if (key === null) return stackTop(err);
    if (this.tops.has(key)) return this.tops.get(key);
    const top = stackTop(err);
    if (this.tops.size >= 1000) this.tops.delete(this.tops.keys().next().value!);
    this.tops.set(key, top);
    return top;
  }

  private reportOnce(err: unknown, ctx: DumpContext): Reported {
    const snapshot = ctx.snapshot as Capture | undefined;
    const capture = snapshot ?? this.capturer.captureFor(err);
    const site = capture ? undefined : (this.capturer.siteFor(err) ?? ctx.site);
    // A repeat of a failure already dumped, with nothing new captured (a counted repeat at its
    // site, or a throw while pausing is off): counted against the first dump, without building
    // another (no stack text formatted, no frames read). Without a site, failures of the same
    // kind (class and the same message) are taken for the same site: two sites failing with one
    // message while pausing is off share a dump, which the count says. A stack text a framework
    // logged (explain()) is matched alike. While functions are muted (site-mutes.ts), a throw
    // there with a message of its own ("user 8 not found" after "user 7 not found") is matched by
    // the first line of its stack (one stack formatting instead of a pause): the same file and
    // line as a dumped site is a repeat of it, any other line a failure of its own; an error of
    // the shape a muted one-throw function makes is matched without its stack (site-mutes.ts),
    // while pausing is on (else another function's unpaused throw could have that shape).
    const kind = (ctx.note && ctx.note !== NEVER_THROWN) || ctx.phase !== 'app' ? null : err !== null && typeof err === 'object' ? this.exactKind(err) : FailureFolder.kindOf(err, '', true);
    // Matched by its stack's file and line, a muted throw is a repeat of the dump there only when
    // its column is the first dumped error's too: `.profile` of undefined and `.plan` of undefined
    // on one line (Q18) are two failures, `user 8 not found` after `user 7 not found` one.
    let distinct: string | undefined;
    const mutedSite = (): string | undefined => {
      const top = this.topOf(err);
      if (!top) return undefined;
      const first = this.firstColumns.get(top.site);
      if (first === undefined || first === top.column) return top.site;
      return (distinct = `${top.site}:${top.column}`);
    };
    // Matched by its kind with pausing on and nothing paused at: a muted repeat, towards an
    // error-storm back-off (one matched by its shape or its stack's line is not: during a back-off
    // each would be told by where it was made, which costs more than the back-off saves).
    let byKind = false;
    const repeatSite = (kind: string): string => {
      if (site !== undefined) return site;
      const at = this.kindSite(kind, err);
      if (at !== undefined) {
        byKind = this.capturer.pausingNow && this.soleSite(kind) !== undefined;
        return at;
      }
      return (this.capturer.mutes.size > 0 ? ((this.capturer.pausingNow ? this.capturer.mutes.shapeSite(shapeOf(err)) : undefined) ?? mutedSite()) : undefined) ?? '\u0000';
    };
    const known = capture || kind === null || ctx.final ? null : this.sinks.repeat(repeatSite(kind), () => errorInfo(err));
    if (known) {
      if (byKind) this.mutedRepeat(known);
      return this.counted(known, ctx);
    }
    // Thrown with pausing on, yet neither captured nor counted: another session (a DevTools
    // client attached to this process's own port) may have set the isolate's pause-on-exceptions
    // state; if so it is taken back for the next failures, and this dump says why it has no values.
    // Asked only of a failure no dump explains: the check is a throw that pauses (V8 then builds
    // every frame's scopes: about 5 million instructions under callgrind), and a repeat of a
    // dumped failure has its values in that dump; the state is posted again every REASSERT_MS anyway.
    const taken = !capture && !site && ctx.phase === 'app' && !snapshot && this.capturer.pausingTaken();
    // A throw in a request's async context names that request, whoever reports it later.
    const request = ctx.request ?? capture?.request ?? null;
    const record = ctx.call ?? (request ? this.attribution.of(request) : undefined);
    if (record) record.reported = true;
    // The request as it arrived (a router rewrites req.url) and where it came from, kept in its
    // record or the capture: the work may fail long after its response (a timer, a `void` promise).
    const url = record?.req === request ? record?.url : capture?.request === request ? capture?.url : undefined;
    const remote = (record?.req === request ? record?.remote : undefined) ?? (capture?.request === request ? capture?.remote : undefined);
    // No known repeat during an error-storm back-off: pausing goes on again at once, so this
    // failure's next throw is captured (and dumped again, with its values: stormDumps).
    const calmed = !capture && !snapshot && ctx.phase === 'app' && this.capturer.calm();
    let note = ctx.note ?? (taken ? PAUSING_TAKEN : undefined) ?? (ctx.phase === 'app' && !capture && !site && err instanceof Error && !isAggregate(err) && !snapshot && !err.cause ? (isNativeError(err) ? (isStackOverflow(err) ? STACK_OVERFLOW : (thrownWithoutAppFrame(err, this.opts.frames) ?? NEVER_THROWN)) : MADE_IN_THREAD) : undefined);
    if (calmed) note = note === undefined || note === NEVER_THROWN ? stormNote(this.stormOf, this.capturer.storm.perSecond) : `${note}. ${stormNote(this.stormOf, this.capturer.storm.perSecond)}`;
    const stormFirst = capture && !snapshot ? this.stormDumps.get(capture.site) : undefined;
    if (stormFirst !== undefined) note = note ? `${note}. ${afterStormNote(stormFirst)}` : afterStormNote(stormFirst);
    const unmuted = !capture && !site && ctx.phase === 'app' && this.capturer.mutes.size > 0;
    if (unmuted) {
      // It may have been thrown in a function muted after another site's repeats (also during a
      // back-off: a muted function's other throw, stormrev.2): every muted function pauses again,
      // so the next throw there is captured (a muted repeat costs one pause and mutes it again).
      this.capturer.mutes.unmuteAll();
      if (note === NEVER_THROWN) note = MAYBE_MUTED;
    }
    const dump = this.builder.build(err, capture, {
      phase: ctx.phase,
      kind: ctx.kind,
      request,
      capture: snapshot ?? null,
      context: ctx.context,
      worker: this.worker,
      lookup: (e) => this.capturer.captureFor(e),
      lookupSite: (at) => this.capturer.captureAt(at),
      ...(site ? { site } : distinct ? { site: distinct } : {}),
      ...(ctx.response ? { response: ctx.response } : {}),
      ...(note ? { note } : {}),
      ...(ctx.inFlight ? { inFlight: ctx.inFlight } : {}),
      ...(remote ? { remote } : {}),
      ...(url !== undefined ? { url } : {}),
      ...(ctx.noCulprit ? { noCulprit: true } : {}),
      ...(ctx.unhandled ? { unhandled: true as const } : {}),
    });
    const trace = traceOf(request);
    if (trace) dump.trace = trace;
    if (kind !== null && ctx.note !== NEVER_THROWN) {
      if (this.kinds.size >= 1000) this.kinds.delete(this.kinds.keys().next().value!);
      const had = this.kinds.get(kind);
      this.kinds.set(kind, had !== undefined && (had.shared === true || had.site !== dump.site) ? { site: dump.site, shared: true } : { site: dump.site });
    }
    const { repeat, path, elsewhere } = this.sinks.emit(dump, ctx.final === true, stormFirst !== undefined, calmed || unmuted);
    if (stormFirst !== undefined) this.stormDumps.delete(capture!.site);
    // Dumped without values where its next throw pauses: that capture is dumped again (stormrev.3).
    if ((calmed || unmuted) && !repeat) {
      if (this.stormDumps.size >= 1000) this.stormDumps.delete(this.stormDumps.keys().next().value!);
      this.stormDumps.set(dump.site, { id: dump.id, storm: calmed });
    }
    if (!repeat && ctx.phase === 'app' && !this.firstColumns.has(dump.site)) {
      const top = stackTop(err);
      if (top?.site === dump.site) {
        if (this.firstColumns.size >= 1000) this.firstColumns.delete(this.firstColumns.keys().next().value!);
        this.firstColumns.set(dump.site, top.column);
      }
    }
    // A repeat here was built for this failure: its request is this one's (review20.1).
    return reported(dump, path, repeat, this.sinks, undefined, repeat ? { own: true, elsewhere } : undefined);
  }

  /**
   * The answer for a counted repeat of a dump: one per dump, made at its first repeat and handed to
   * every repeat after (its fields are the same for each, its text rendered once). A repeat at a hot
   * site is most of what -d reports, and each answer made anew was an object and an own accessor
   * defined on it (Object.defineProperty: a runtime call) for a caller that mostly drops it.
   */
  private repeatOf(dump: Dump, path: string | null, elsewhere: boolean): Reported {
    const kept = this.repeats.get(dump);
    if (kept !== undefined && kept.path === path) return kept;
    const made = reported(dump, path, true, this.sinks, undefined, { elsewhere });
    this.repeats.set(dump, made);
    return made;
  }

  /** First dump -> the answer its repeats share (repeatOf). */
  private readonly repeats = new WeakMap<Dump, Reported>();

  /** Emits a dump made elsewhere (a live stack, an autopsy) through the same sinks. */
  emit(dump: Dump): Reported {
    const { repeat, path, problem } = this.sinks.emit(dump);
    return reported(dump, path, repeat, this.sinks, problem);
  }

  deliverDumps(onDump: OnDump | null, log: Logger): void {
    this.log = log;
    this.sinks.deliverTo(deliveryFor(onDump, log));
    // JSON logs (stdout not a terminal: a collector's pipe): each new dump is also one record, so
    // the request id finds it and a read-only root's stderr-only dump is not cut into lines.
    this.sinks.recordTo(process.stdout.isTTY ? null : dumpRecorder(log));
  }

  /** The process's logger, once options are known (deliverDumps). */
  private log: Logger | null = null;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.capturer.stop();
    this.attribution.close();
    uninstallAppStacks();
    this.unwatchConsole?.();
    setServerErrorHeadHandler(null);
    this.reportCost();
    if (this.ci) this.opts.write(`${this.sinks.summary()}\n`);
  }

  private costReported = false;

  /**
   * The capture's cost, once: single mode writes it before its last line (Goodbye, or why it
   * stopped), which stays the last thing the process says; close() writes it otherwise.
   */
  /** `ctl stats`' debug_capture, from each figure's owner (DebugCaptureStats). */
  stats(): DebugCaptureStats {
    const { dumps, total } = this.sinks;
    const storm = this.capturer.storm;
    return { dumps, repeats: total - dumps, muted: this.capturer.stats.muted, storms: storm.storms, calmed: storm.calmed };
  }

  reportCost(): void {
    if (this.costReported) return;
    this.costReported = true;
    const cost = this.capturer.costLine();
    // A record of the process's log (its pid and worker fields), not a plain line amid the JSON
    // lines (T12.3); written under `quiet` too (a child at info): one line at exit, the figures
    // bench and operators read. Plain text on stderr only before the logger exists.
    if (cost && this.log) this.log.child({}, { level: 'info' }).info({ ...(this.worker !== null ? { worker: this.worker } : {}), debugCapture: this.capturer.costRecord() }, cost.replace(/^tspuma: /, ''));
    else if (cost) this.opts.write(`${cost}\n`);
  }
}

/**
 * One error record per new dump: its id, phase, headline, culprit `file:line`, request and file,
 * and its text. Not for a worker's autopsy (the primary logs its own line for it) nor a probe's
 * snapshot (the probe's hit line names it).
 */
export function dumpRecorder(log: Logger): (dump: Dump, path: string | null, text: () => string, problem?: string) => void {
  return (dump, path, text, problem) => {
    if (dump.kind === 'hang' || dump.kind === 'snapshot') return;
    const frame = dump.culprit >= 0 ? dump.frames[dump.culprit] : undefined;
    const culprit = frame ? `${frame.file}:${frame.line}` : null;
    const request = dump.request ? { id: dump.request.id, method: dump.request.method, url: dump.request.url } : null;
    const error = oneLine(`${dump.error.name}: ${dump.error.message}`);
    const record = { id: dump.id, phase: dump.phase, kind: dump.kind, error, code: dump.error.code, site: dump.site, culprit, request, path, ...(problem ? { problem } : {}) };
    log.error({ dump: record, text: text() }, `tspuma dump #${dump.id} [${dump.phase}] ${error}${culprit ? ` at ${culprit}` : ''}${request ? ` (request ${request.id} ${request.method} ${request.url})` : ''}`);
  };
}

/** onDump wrapped so its failures are logged as warnings with their code; null without onDump. */
export function deliveryFor(onDump: OnDump | null, log: Logger): DumpDelivery | null {
  return onDump ? new DumpDelivery(onDump, (err) => log.warn({ err, code: err.code }, err.message)) : null;
}

/** Sinks for dumps made without the capture layer (autopsies with --inspect but not --debug). */
export function standaloneSinks(env: NodeJS.ProcessEnv, dir: string | null, delivery: DumpDelivery | null = null): Sinks {
  return new Sinks({
    delivery,
    dir: dumpDirFrom(env, dir),
    dirSource: dumpDirSource(dir, undefined),
    env,
    maxFiles: DIAGNOSTICS_DEFAULTS.maxFiles,
    githubActions: env.GITHUB_ACTIONS === 'true',
    github: githubContext(env),
    colour: stderrIsTerminal(env),
    write: (text) => process.stderr.write(text),
  });
}

export function enableDiagnostics(opts: Partial<DiagnosticsOptions> = {}): Diagnostics {
  return new Diagnostics({
    frames: opts.frames ?? DEFAULTS.dumpFrames,
    redact: opts.redact ?? null,
    dir: opts.dir ?? null,
    ...(opts.dirSource !== undefined ? { dirSource: opts.dirSource } : {}),
    maxFiles: opts.maxFiles ?? DIAGNOSTICS_DEFAULTS.maxFiles,
    env: opts.env ?? process.env,
    write: opts.write ?? ((text) => process.stderr.write(text)),
    colour: opts.colour ?? stderrIsTerminal(),
    onInternalError: opts.onInternalError ?? ((err) => process.stderr.write(`tspuma: diagnostics capture failed: ${(err as Error)?.message ?? String(err)}\n`)),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.storm ? { storm: opts.storm } : {}),
  });
}
