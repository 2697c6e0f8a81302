// Each keep-alive connection's own request limit, spread below maxKeepAlive. A pool of clients
// served at one rate (wrk -c10, a proxy's upstream pool) would otherwise have every connection
// reach maxKeepAlive together and reconnect as a burst (a single worker's accept queue, or, in a
// cluster, the first worker awake taking most of it: findings cluster3.3). The limit stays an
// upper bound: a connection never serves more than maxKeepAlive requests.

/** 1/golden ratio: the serials' fractions (a Weyl sequence) fill [0, 1) evenly, consecutive serials far apart. */
const STEP = 0.6180339887498949;

/** The part of maxKeepAlive the limits spread over: its top eighth (none below 16, where that is under two requests). */
export const SPREAD_DIVISOR = 8;

export class KeepAliveLimits {
  /** The lowest limit any connection gets: a request count below it never needs the connection's own (Infinity: unlimited). */
  readonly lowest: number;
  private readonly spread: number;

  /**
   * `max`: maxKeepAlive (0: unlimited). `seed` in [0, 1): where this process's sequence starts
   * (Math.random() in a server), so the workers of a cluster do not draw the same limits for
   * the same serials.
   */
  constructor(private readonly max: number, private readonly seed: number) {
    this.spread = Math.floor(max / SPREAD_DIVISOR);
    this.lowest = max > 0 ? max - Math.max(this.spread - 1, 0) : Infinity;
  }

  /** The limit of the connection with this serial (its deadlines Entry id): from `lowest` to `max`. */
  limitOf(serial: number): number {
    if (this.max <= 0) return Infinity;
    const x = this.seed + serial * STEP;
    return this.max - Math.floor((x - Math.floor(x)) * this.spread);
  }
}
