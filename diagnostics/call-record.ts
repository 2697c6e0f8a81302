// What debug mode records of a throw and of the app call it happened in: a capture (the frames
// and values read while paused at the throw), a throw noted in a call, and the call's record.
// Types only, shared by capture.ts (which makes captures and notes throws) and attribution.ts
// (which keeps the records), so neither imports the other.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CapturedFrame } from './frames.js';
import type { DumpPhase } from './model.js';

export interface Capture {
  phase: DumpPhase;
  reason: string;
  site: string;
  frames: CapturedFrame[];
  redactions: string[];
  /** The request whose async context the throw happened in, if any. */
  request?: IncomingMessage | null;
  /** That request's URL as it arrived and its client's address (CallRecord's), kept past its response. */
  url?: string;
  remote?: string;
  /**
   * The thrown error was made in another thread (its stack's culprit is a file this thread never
   * loaded: a worker_threads worker's reply through a MessagePort): the dump takes that frame, from
   * the stack text, as culprit, and shows these frames, which received it, as context.
   */
  madeInThread?: boolean;
  /**
   * `file:line` of the app frame whose own `try` block the throw happened in (the app caught it
   * itself: a cache miss's JSON.parse), when the scan of its source says so; a 5xx answered later
   * in the request is then not blamed on it without saying so.
   */
  caughtBy?: string;
}

/** A throw seen inside a call: its value and what the budget allowed (a capture, or a repeat's site). */
export interface Thrown {
  value: unknown;
  capture: Capture | null;
  /** Site key of an earlier capture, for a throw only counted as a repeat. */
  site: string | null;
}

export interface CallRecord {
  readonly req: IncomingMessage;
  /**
   * The request line's URL as it arrived, as the request log names it: a router rewrites
   * `req.url` while the request is inside it (Express's mounted routers), and work left running
   * after the response reads whatever it was left at.
   */
  readonly url: string;
  readonly res: ServerResponse | null;
  /** Throws seen in this call's async context, oldest first (bounded). */
  readonly thrown: readonly Thrown[];
  /** Errors (or stack texts) the app passed to console.error during the call (bounded). */
  readonly logged: readonly unknown[];
  /** tspuma already dumped a failure of this call (the adapter saw the throw). */
  reported: boolean;
  /**
   * The client's address, read when a throw is noted or the call is settled (the socket may be
   * closed by the time of a dump); undefined until then.
   */
  remote: string | undefined;
  /** What little else is known of a call that failed quietly; undefined until something is noted. */
  quiet: QuietNotes | undefined;
  /**
   * The status its response went out with, read as it closed (0 before): an error middleware's
   * `res.status(500)` after the head went out changes `res.statusCode`, not what the client got (N13).
   */
  sentStatus: number;
}

/**
 * Clues to a 5xx the app answered without handing tspuma or console.error an error: made only
 * when one turns up, so a call that does not fail pays one field.
 */
/** A muted dump site a held-error look found, and its error's name and message (for the repeat count's line). */
export interface HeldRepeat {
  site: string;
  error: { name: string; message: string };
}

export interface QuietNotes {
  /** Errors thrown in the call's work where V8 paused with no app frame on the stack (not captured), oldest first (bounded). */
  seen: unknown[];
  /** The last text the app passed to console.error in the call (no error, no stack text: `err.message`). */
  said?: string;
  /**
   * The error an app frame held in a local as the 5xx head was written (an error handler's `err`),
   * and where that frame answered (index.ts lookForHeld's key; null when not told). Or, with no
   * look made, `of`: the muted site whose error the last look at the same answering frame found.
   */
  held?: { value: unknown; at: string | null } | { of: HeldRepeat };
  /** A look for a held error was skipped (over its rate): that no error reached tspuma is not known. */
  unlooked?: boolean;
}
