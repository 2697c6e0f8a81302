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
}
