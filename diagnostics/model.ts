// The Dump and its frames, the JSON schema of a dump file (documented in DEBUGGING.md): types,
// its version, and the process's dump numbering (here, not in dumps.ts, so `tspuma inspect`'s
// live stacks number theirs without loading the failure dump builder and its request modules).

export const DUMP_VERSION = 1;

let lastId = 0;
/** Dump ids are per process, shared by every builder (failures, live stacks, autopsies). */
export function nextDumpId(): number {
  return ++lastId;
}

/** The server phase a failure happened in. */
export type DumpPhase = 'config' | 'listen' | 'accept' | 'reactor' | 'request' | 'app' | 'hook' | 'boot' | 'stack' | 'hang' | 'probe';

/**
 * A value as captured: strings (capped), numbers, booleans and null as themselves; anything
 * else (objects, functions, undefined, symbols) as { summary: "Class {a: 1, …}" }.
 */
export type Shown = string | number | boolean | null | { summary: string };

export interface DumpFrame {
  /** "Class.method", "fn" or "(anonymous)". */
  function: string;
  /** Original file (after source maps), relative to cwd when below it. */
  file: string;
  /** 1-based, original. */
  line: number;
  /** 1-based, original. */
  column: number;
  /** "ClassName" plus a short summary; "undefined" for none. */
  receiver: string;
  /** Arguments and locals from local, block, catch and closure scopes. */
  locals: Record<string, Shown>;
  /** The first frame in the app's or the server's own code. */
  culprit?: true;
  /** node internals or node_modules. */
  library?: true;
  /** Whose code: the app's, tspuma's own, node's internals, or an installed package. */
  origin?: FrameOrigin;
  /** The receiver's own fields, one level (app and tspuma frames), redacted like locals. */
  receiverFields?: Record<string, Shown>;
  /** This frame (with the `cycle - 1` frames after it) repeated this many times in a row: folded. */
  repeat?: number;
  /** Frames in the repeated block, when more than one (mutual recursion). */
  cycle?: number;
  /** The culprit's source line (redacted, at most 240 characters) and the 1-based column in it. */
  source?: { text: string; column: number };
}

export type FrameOrigin = 'app' | 'tspuma' | 'node' | 'dependency';

export interface DumpError {
  name: string;
  message: string;
  code: string | null;
  /**
   * error.cause chain, outermost first; `site` is where each cause was thrown (its culprit's
   * file:line) and `captured` whether its throw was captured with values (its own, or the
   * first throw at the same site in the window); `fields`: the cause's own fields, redacted like
   * locals; `values`: the locals of its capture's culprit frame.
   */
  causes: { name: string; message: string; code: string | null; site?: string; captured?: boolean; fields?: Record<string, Shown>; values?: Record<string, Shown> }[];
  /**
   * The error's own fields beyond name, message, stack, code and cause (a database error's
   * `detail`, `constraint`, `table`; a validation error's `issues`), summarised and redacted
   * like locals. Absent when it has none.
   */
  fields?: Record<string, Shown>;
}

/** One error of an AggregateError, with the frames of its own throw. */
export interface DumpMember {
  error: DumpError;
  site?: string;
  captured: boolean;
  /** Index of the culprit in frames, or -1. */
  culprit: number;
  frames: DumpFrame[];
}

/** A response closed after its head and before its end (request-lifecycle.ts finds it). */
export interface ResponseCut {
  /** Bytes that went out on its connection by the close (head and body; see `sent`). */
  bytes: number;
  /** Those bytes in words: "57 bytes in all (head and body)", or the earlier responses they include. */
  sent: string;
  /** Who closed it, as far as can be told. */
  why: string;
}

export interface Dump {
  version: typeof DUMP_VERSION;
  /** Sequence number in this process. */
  id: number;
  /**
   * stack: a live stack taken on demand; hang: a hung worker's autopsy before it was killed;
   * snapshot: a snapshot probe's hit (`tspuma probe snapshot`, `tspuma replay`), phase `probe`.
   */
  kind: 'exception' | 'rejection' | 'listen' | 'fault' | 'stack' | 'hang' | 'snapshot';
  phase: DumpPhase;
  error: DumpError;
  pid: number;
  /** Worker index in cluster mode; null in single mode. */
  worker: number | null;
  time: string;
  /** Where the failure was raised: "file:line:column" of the throw site. */
  site: string;
  /** Index of the culprit frame in frames, or -1. */
  culprit: number;
  /** True when the frames came from a live capture (with values), false when only from the stack text. */
  captured: boolean;
  frames: DumpFrame[];
  /**
   * `id`: the request id (X-Request-Id when well-formed, else tspuma's), as in the request log;
   * `remote`: the client's address (behind a trusted proxy or the PROXY protocol, the client's).
   */
  request: {
    id: string;
    remote?: string | null;
    method: string;
    url: string;
    headers: Record<string, string>;
    /** The body as the app's framework parsed it (`req.body`), redacted; absent when none was parsed. */
    body?: { type: 'json' | 'text'; text: string };
  } | null;
  process: { node: string; rssBytes: number; heapUsedBytes: number; uptimeSeconds: number; eventLoopDelayMs: { p50: number; max: number } | null };
  /** What was replaced by "[redacted]": "header authorization", "local password (frame 0)". */
  redactions: string[];
  /** Values given at the call site, for failures that surface later (listen errors). */
  context?: Record<string, Shown>;
  /**
   * Live stacks: no JavaScript was running when asked (the process waited in its event loop);
   * frames is empty or holds its next callback, which paused pauseWaitMs later.
   */
  idle?: true;
  pauseWaitMs?: number;
  /**
   * Live stacks and autopsies: the requests in the app when the process was paused, oldest first;
   * an uncaught exception: the requests in the app when it happened.
   */
  inFlight?: { method: string; url: string; ms: number }[];
  /** frames (and culprit) are those of error.causes[framesFromCause - 1]: the innermost throw in app code. */
  framesFromCause?: number;
  /** frames (and culprit) are those of members[framesFromMember]: an AggregateError has no throw of its own. */
  framesFromMember?: number;
  /** An AggregateError's errors, each with its own throw. */
  members?: DumpMember[];
  /**
   * The app (or its framework) caught the throw and answered with this status itself; `cut`: the
   * response was cut after its head went out (the client holds a truncated one).
   */
  response?: { status: number; cut?: ResponseCut };
  /** How the failure reached tspuma when that was not a plain throw (never thrown, logged by the app...). */
  note?: string;
  /** A promise nobody awaited rejected (process 'unhandledRejection'): not the failure of the request it names. */
  unhandled?: true;
  /** The request's OpenTelemetry server span (with @opentelemetry/api and a tracer), as hex ids. */
  trace?: { trace_id: string; span_id: string };
}
