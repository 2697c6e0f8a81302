// The logger: pino at the configured level with secrets redacted, pretty-printed by pino-pretty
// on a TTY (one line per entry: its message, the worker before it, an error's stack under it)
// and JSON lines otherwise.
import { createRequire } from 'node:module';
import type { DestinationStream, Logger } from 'pino';
import { redactDeep, Redactor } from '../diagnostics/redact.js';
import { readText, standInError } from './error-stand-in.js';
import type { TspumaError } from './errors.js';
import { ownPipe, pipeWriter, stallError, stdoutKind } from './log-destination.js';
import { loadPino } from './pino-load.js';
import { ownFramesMapped } from './stack-lines.js';
import type { LogLevel } from './options.js';

export interface LoggerOptions {
  /** Default info. */
  level?: LogLevel;
  /** Force pretty (true) or JSON (false); default: pretty when stdout is a TTY. */
  pretty?: boolean;
  /** Write here instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
  /** Extra secret names (the `redact` option) for what error lines print. */
  redact?: string | null;
  /** Colours on a terminal (default true). */
  colour?: boolean;
  /** Logged stacks name tspuma's own frames by their .ts lines (stack-lines.ts): where error details are shown (development, test). */
  ownFrames?: boolean;
}

/**
 * What a line shows on a terminal: its message, which says what its fields say, on one line, a
 * cluster worker named before it (`[worker 1] GET / 200 ...`); the fields themselves stay in the
 * JSON lines a file or a collector gets. An error's stack is printed under its line.
 */
const PRETTY_INCLUDE = 'level,time,msg,err';
export function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const worker = log.worker;
  const message = String(log[messageKey] ?? '');
  return worker === undefined || worker === null ? message : `[worker ${String(worker)}] ${message}`;
}

/** An error's own message, or null (not an object, no string message, a throwing getter). */
function readMessage(err: unknown): string | null {
  try {
    const m = (err as { message?: unknown } | null)?.message;
    return typeof m === 'string' && m !== '' ? m : null;
  } catch {
    return null;
  }
}

/**
 * pino's error serializer, then the dump's rules over all it prints (one redaction pass, as for
 * dumps): an app's message or stack may quote a connection string, a URL with a password or a
 * request's query string, and an error's own fields may hold a request's headers.
 */
function errorSerializer(redactor: Redactor, ownFrames: boolean): (err: Error) => Record<string, unknown> {
  return (err) => {
    let out: Record<string, unknown> | null;
    try {
      out = pino.stdSerializers.err(err) as unknown as Record<string, unknown> | null;
    } catch {
      // An error pino cannot walk (an `errors` list holding itself overflows it, a getter throws):
      // its name, message and stack as far as they can be read.
      out = pino.stdSerializers.err(standInError(err)) as unknown as Record<string, unknown>;
    }
    // An app may reject with null (or any value): that is logged as it is.
    if (out === null || typeof out !== 'object') return out as never;
    if (ownFrames && typeof out.stack === 'string') out.stack = ownFramesMapped(out.stack);
    // pino appends each cause's message (`message: cause`); a message that quotes its cause already
    // (tspuma's coded errors do) keeps it once, not again after its final stop.
    const own = readMessage(err);
    const quoted = readMessage((err as { cause?: unknown } | null)?.cause);
    if (own && quoted && own.includes(quoted) && typeof out.message === 'string' && out.message.startsWith(`${own}: ${quoted}`)) {
      out.message = `${own}${out.message.slice(own.length + 2 + quoted.length)}`;
    }
    // One failure is one line a collector can take whole (journald splits at 48 KiB, Docker at
    // 16 KiB): the message and the stack are capped, and the stack's copy of the message is cut
    // like the message. They are cut a margin past their cap first, so the value rules see a
    // secret that straddles the cap whole, then cut at it after the rules ran.
    const lengths = { message: typeof out.message === 'string' ? out.message.length : 0, stack: typeof out.stack === 'string' ? out.stack.length : 0 };
    if (typeof out.message === 'string' && out.message.length > MAX_LOGGED_MESSAGE) {
      const full = out.message;
      out.message = full.slice(0, MAX_LOGGED_MESSAGE + CAP_MARGIN);
      if (typeof out.stack === 'string') {
        const at = out.stack.indexOf(full);
        if (at >= 0) {
          out.stack = `${out.stack.slice(0, at)}${out.message}${out.stack.slice(at + full.length)}`;
          lengths.stack -= full.length - (MAX_LOGGED_MESSAGE + CAP_MARGIN);
        }
      }
    }
    if (typeof out.stack === 'string' && out.stack.length > MAX_LOGGED_STACK + CAP_MARGIN) out.stack = out.stack.slice(0, MAX_LOGGED_STACK + CAP_MARGIN);
    // Every field the error carries goes through the dump's rules, at every level: an axios-style
    // error's config.headers.authorization, a database error's connection string, a rawHeaders array.
    for (const key of Object.keys(out)) {
      if (key !== 'type') out[key] = redactDeep(out[key], redactor, undefined, key);
    }
    if (typeof out.message === 'string') {
      const cut = capText(out.message, MAX_LOGGED_MESSAGE, lengths.message);
      if (cut !== out.message && typeof out.stack === 'string') out.stack = out.stack.replace(out.message, cut);
      out.message = cut;
    }
    if (typeof out.stack === 'string') out.stack = capText(out.stack, MAX_LOGGED_STACK, lengths.stack);
    return out;
  };
}

/** Longest error message a log line carries (its message, and the stack's copy of it). */
export const MAX_LOGGED_MESSAGE = 2048;
/** Longest stack a log line carries. */
const MAX_LOGGED_STACK = 8192;
/** What the value rules read past a cap, so a secret the cap cuts through is still recognised. */
const CAP_MARGIN = 512;

/** `text` cut at `max` characters, saying how long it was (`total`: before redaction shortened or cut it). */
export function capText(text: string, max = MAX_LOGGED_MESSAGE, total = text.length): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${total} characters in all)`;
}

const require = createRequire(import.meta.url);
// Not imported: an ESM import of this CommonJS package scans its source for named exports first,
// about 4 ms of every boot. Loaded from dist/vendor/pino.cjs, the same pino bundled into one file
// by package.json's build, with its V8 code cache (pino-load.ts): resolving and reading its two
// dozen files one by one cost about 12 ms of every boot, compiling the bundle about 3 ms.
const pino = loadPino();

/**
 * stdout. A pipe (a container runtime's, a `| tee`) is written through tspuma's own non-blocking
 * descriptor so a stalled reader never holds the thread (log-destination.ts); a socket, a file or
 * a terminal synchronously. One per process: every logger of the process (the CLI's, start()'s)
 * writes through it, so lines come out in the order they were logged. When the terminal it goes to
 * closes (EIO) or the reader of its pipe goes away (EPIPE), further lines are dropped: a closed
 * terminal's SIGHUP must lead to a graceful stop, not to a crash on the next log line.
 */
function stdout(warn: (err: TspumaError) => void): DestinationStream {
  if (shared !== null) return shared;
  const own = stdoutKind() === 'pipe' ? ownPipe() : null;
  if (own !== null) return (shared = pipeWriter(own, (stall, at) => warn(stallError(stall, at))) as unknown as DestinationStream);
  const dest = pino.destination({ dest: 1, sync: true });
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO' && err.code !== 'EPIPE') throw err;
    const mute = dest as unknown as Record<string, unknown>;
    for (const method of ['write', 'flushSync', 'end']) mute[method] = () => true;
  });
  return (shared = dest);
}
let shared: DestinationStream | null = null;

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base = { pid: process.pid };
  const redactor = new Redactor(opts.redact ?? null);
  const serializers = { err: errorSerializer(redactor, opts.ownFrames === true) };
  const hooks = { logMethod: redactWarnings(redactor) };
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  // The stall warning goes through the logger it is about, once stdout takes lines again.
  let logger: Logger | null = null;
  const warn = (err: TspumaError): void => logger?.warn({ code: err.code, ...err.params }, err.message);
  if (usePretty) {
    // Required only for a TTY: most servers log JSON, and pino-pretty costs about 50 ms of boot.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({
      colorize: opts.colour ?? true,
      sync: true,
      include: PRETTY_INCLUDE,
      messageFormat: prettyMessage as never,
      translateTime: 'HH:MM:ss.l',
      destination: opts.destination ?? stdout(warn),
    });
    return (logger = pino({ level, base, serializers, hooks }, stream));
  }
  return (logger = pino({ level, base, serializers, hooks }, (opts.destination as DestinationStream | undefined) ?? stdout(warn)));
}

/** pino's level number for warn: lines at it and above carry text from outside (error messages). */
const WARN_LEVEL = 40;

/**
 * The message of every warn, error and fatal line goes through the value rules, as its `err` field
 * does: such lines quote an error's message (`onDump … rejected with Error: request to
 * https://user:pw@…`, `Unhandled promise rejection: …`, `The app's shutdown() failed: …`), and a
 * terminal shows the message, not the redacted `err`. Info lines (request lines, boot lines) are
 * tspuma's own words and keep their cost.
 */
function redactWarnings(redactor: Redactor) {
  return function logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void, level: number): void {
    if (level >= WARN_LEVEL) {
      for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = capText(redactor.query((args[i] as string).slice(0, MAX_LOGGED_MESSAGE + CAP_MARGIN)), MAX_LOGGED_MESSAGE, (args[i] as string).length);
    }
    method.apply(this, args);
  };
}

/** How long one failure's error lines are folded after its first full line. */
export const FOLD_INTERVAL_MS = 10_000;
const MAX_FOLDED_KEYS = 1000;

/**
 * Folds repeated error lines: the first failure of a kind is logged in full, the ones like it in
 * the next FOLD_INTERVAL_MS are only counted, and the count is logged once as that interval ends
 * (one line per kind per interval, however many failures: 3,000 identical failures print a few
 * lines, not 3,000 stacks). A kind is the error's class and its message with digits replaced,
 * so `user 7 not found` and `user 42 not found` fold together; the request lines of
 * `logRequests` are not folded. The clock and timer are injectable for tests.
 */
export class FailureFolder {
  private readonly kinds = new Map<string, { since: number; folded: number; sample: string }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly flush: (sample: string, folded: number, seconds: number) => void,
    private readonly intervalMs = FOLD_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The kind of a failure, read without formatting its stack. */
  static kindOf(err: unknown, where = '', exact = false): string {
    // Read as the stand-in reads them: a getter that throws, a Symbol, a null-prototype value never throw here.
    const e = err as { name?: unknown; message?: unknown } | null;
    const name = e !== null && typeof e === 'object' ? readText(() => e.name, 'Error') : typeof err;
    const message = (e !== null && typeof e === 'object' ? readText(() => e.message, '') : readText(() => err, typeof err)).slice(0, 300);
    return `${where}|${name}: ${exact ? message : message.replace(/\d+/g, '#')}`;
  }

  /**
   * True: log this failure in full. False: it was counted, and the count goes out when its
   * interval ends. `sample` (the line's text) may be a function: a counted repeat never builds it.
   */
  admit(kind: string, sample: string | (() => string)): boolean {
    const now = this.now();
    const known = this.kinds.get(kind);
    if (known && now - known.since < this.intervalMs) {
      known.folded++;
      this.arm();
      return false;
    }
    if (known && known.folded > 0) this.flush(known.sample, known.folded, Math.round((now - known.since) / 1000));
    this.kinds.delete(kind);
    if (this.kinds.size >= MAX_FOLDED_KEYS) this.flushOldest();
    this.kinds.set(kind, { since: now, folded: 0, sample: typeof sample === 'string' ? sample : sample() });
    return true;
  }

  /** Logs the counts of intervals that have ended. */
  sweep(): void {
    const now = this.now();
    for (const [kind, k] of this.kinds) {
      if (now - k.since < this.intervalMs) continue;
      if (k.folded > 0) this.flush(k.sample, k.folded, Math.round((now - k.since) / 1000));
      this.kinds.delete(kind);
    }
    if (this.kinds.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Logs every count now (at stop). */
  close(): void {
    for (const k of this.kinds.values()) if (k.folded > 0) this.flush(k.sample, k.folded, Math.round((this.now() - k.since) / 1000));
    this.kinds.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private flushOldest(): void {
    const [kind, k] = this.kinds.entries().next().value!;
    if (k.folded > 0) this.flush(k.sample, k.folded, Math.round((this.now() - k.since) / 1000));
    this.kinds.delete(kind);
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), Math.max(1000, this.intervalMs / 4));
    this.timer.unref();
  }
}
