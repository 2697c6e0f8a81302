// A probe's rate limit in one worker (probeLogRate, probeSnapshotRate, `--rate N`): whether a hit
// may pause the thread to log or snapshot, asked before the pause, so a hit over the rate costs
// the gate's call and nothing more. The clock is injected (tests).

export class RateLimit {
  private tokens: number;
  private refilledAt: number;

  constructor(
    /** Hits per second. */
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate;
    this.refilledAt = now();
  }

  /** Whether a hit now may pause (counted as taken when it may). */
  take(): boolean {
    const now = this.now();
    // A token bucket of `rate` per second, `rate` deep.
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
