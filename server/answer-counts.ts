// What `ctl stats` counts of the requests the app did not answer itself: the error answers tspuma
// wrote in its place, by status (400, 408, 413, 431, 500, 501, 503: the lowlevel handler's, on a
// response or on the raw socket), and the requests whose client left while they were in the app
// or queued for it. One per Server: counted where the answer is built (lowlevel.ts) and where the
// connection's close is seen (request-lifecycle.ts), read by Server.stats().

export interface AnswerStats {
  /** Error responses tspuma built (its refusals, timeouts, the 500 of an app's failure), by status. */
  error_answers: Record<string, number>;
  /** Requests whose client closed the connection while the request was in the app or queued for it. */
  clients_gone: number;
}

export class AnswerCounts {
  private readonly byStatus: Record<string, number> = {};
  private gone = 0;

  /** An error response is being built for `status`. */
  answered(status: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
  }

  /** A request's client left before its response; returns how many have so far. */
  clientGone(): number {
    return ++this.gone;
  }

  stats(): AnswerStats {
    return { error_answers: { ...this.byStatus }, clients_gone: this.gone };
  }
}
