// A probe's rate limit in one worker (probeLogRate, probeSnapshotRate, `--rate N`): whether a hit
// may pause the thread to log or snapshot, asked before the pause, so a hit over the rate costs
// the gate's call and nothing more. "100 a second" holds for every second: at most `rate` hits
// within any 1,000 ms, a sliding window over the times of the last `rate` hits let through (a ring
// of `rate` numbers). The token bucket before it (`rate` a second, `rate` deep) let a full bucket
// through on top of the second's own `rate` after any idle spell, so the first second of load
// logged twice the rate (bench:probes' firing logpoint, loaded in 2 s bursts: 299 lines a burst,
// 3,796 in all against the 2,600 the rate allows). The clock is injected (tests).

const WINDOW_MS = 1000;

export class RateLimit {
  /** When the last `rate` hits let through were (-Infinity: none yet); `next` is the oldest. */
  private readonly times: Float64Array;
  private next = 0;

  constructor(
    /** Hits per second. */
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.times = new Float64Array(Math.max(1, Math.floor(rate))).fill(-Infinity);
  }

  /** Whether a hit now may pause (counted as taken when it may): the `rate`-th hit before it is a second old. */
  take(): boolean {
    const now = this.now();
    if (now - this.times[this.next]! < WINDOW_MS) return false;
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.times.length;
    return true;
  }
}
