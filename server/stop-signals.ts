// Stop requests (SIGTERM, SIGINT, SIGHUP, `tspuma ctl stop`) counted into one stop, for single mode
// and a cluster primary alike: the first starts the graceful stop; a later one forces it (an
// impatient operator). A SIGTERM that repeats within 2 s of the first is the same stop, not
// a force: GNU `timeout` (and some supervisors) signal the process and then its process group, so
// the server gets the one TERM twice a few microseconds apart, and a forced stop would cut the
// requests in flight that the graceful stop was for. A SIGINT forces when it comes again later
// than a person could press Ctrl-C twice (SIGINT_REPEAT_MS); sooner, it is the same stop too
// (`timeout -s INT` signals the process and its group in the same way).

/** A SIGTERM within this long of the first stop request is the same request. */
export const REPEAT_WINDOW_MS = 2000;
/** A SIGINT within this long of the first is the one signal delivered twice, not Ctrl-C pressed again. */
export const SIGINT_REPEAT_MS = 100;

export type StopStep =
  /** Start the graceful stop. */
  | { kind: 'first' }
  /** The same stop again (a SIGTERM sent twice by a tool): log it, nothing else. */
  | { kind: 'repeat'; sinceMs: number }
  /** Force the stop under way. */
  | { kind: 'force' };

export class StopRequests {
  private firstAt: number | null = null;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** What a stop request (`why`: the signal's name, or another source) means now. */
  next(why: string): StopStep {
    const now = this.now();
    if (this.firstAt === null) {
      this.firstAt = now;
      return { kind: 'first' };
    }
    const sinceMs = now - this.firstAt;
    if (why === 'SIGTERM' && sinceMs < REPEAT_WINDOW_MS) return { kind: 'repeat', sinceMs };
    if (why === 'SIGINT' && sinceMs < SIGINT_REPEAT_MS) return { kind: 'repeat', sinceMs };
    return { kind: 'force' };
  }
}

/** The log line of a repeat: it says why it did not force. */
export function repeatLine(why: string, sinceMs: number): string {
  const after = why === 'SIGINT' ? `${SIGINT_REPEAT_MS} ms` : `${REPEAT_WINDOW_MS / 1000} s`;
  return `Received ${why} again ${Math.round(sinceMs)} ms after the first: the same stop (a tool such as GNU timeout signals the process and its group); send it again after ${after} to force`;
}
