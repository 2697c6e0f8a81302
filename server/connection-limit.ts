// Each keep-alive connection's own request limit, spread below maxKeepAlive. A pool of clients
// served at one rate (wrk -c10, a proxy's upstream pool) would otherwise have every connection
// reach maxKeepAlive together and reconnect as a burst (a single worker's accept queue, or, in a
// cluster, the first worker awake taking most of it: findings cluster3.3). The limit stays an
// upper bound: a connection never serves more than maxKeepAlive requests.
//
// It also brings the process's first such close forward (FIRST_CLOSE_AT). A server-side close is a
// path node:http and node's streams take nowhere else (the closing branch of the response's head,
// a socket ended by the server, the client's FIN after it, the parser freed): taken first at about
// the 900th request of a connection, when node's request path is optimized, it deoptimizes about
// twenty of node's stream and http functions and tspuma's onRequest, marks four more, and has some
// forty recompiled over the next thousands of requests (bench/README.md, session 25, warmup). Taken
// at the process's 64th request, node's code is not optimized yet: it is compiled later with that
// path in its feedback and maps, and nothing is thrown away.

/** 1/golden ratio: the serials' fractions (a Weyl sequence) fill [0, 1) evenly, consecutive serials far apart. */
const STEP = 0.6180339887498949;

/** The part of maxKeepAlive the limits spread over: its top eighth (none below 16, where that is under two requests). */
export const SPREAD_DIVISOR = 8;

/**
 * The process's request whose response is its first `Connection: close` for its request count
 * (when maxKeepAlive would close connections anyway, later: their limits all lie above it).
 */
export const FIRST_CLOSE_AT = 64;

export class KeepAliveLimits {
  /**
   * The lowest limit any connection gets: a request count below it never needs the connection's
   * own (Infinity: unlimited). 0 until the process's first close (FIRST_CLOSE_AT), so that every
   * request is counted towards it.
   */
  lowest: number;
  private readonly spread: number;
  /** `lowest` once the process's first close is behind it: the lowest of the spread limits. */
  private readonly spreadLowest: number;
  /** Requests left until the process's first close (0: none to come, or none brought forward). */
  private untilFirstClose: number;

  /**
   * `max`: maxKeepAlive (0: unlimited). `seed` in [0, 1): where this process's sequence starts
   * (Math.random() in a server), so the workers of a cluster do not draw the same limits for
   * the same serials.
   */
  constructor(private readonly max: number, private readonly seed: number) {
    this.spread = Math.floor(max / SPREAD_DIVISOR);
    this.spreadLowest = max > 0 ? max - Math.max(this.spread - 1, 0) : Infinity;
    this.untilFirstClose = this.spreadLowest !== Infinity && this.spreadLowest > FIRST_CLOSE_AT ? FIRST_CLOSE_AT : 0;
    this.lowest = this.untilFirstClose > 0 ? 0 : this.spreadLowest;
  }

  /** The limit of the connection with this serial (its deadlines Entry id): from `lowest` to `max`. */
  limitOf(serial: number): number {
    if (this.max <= 0) return Infinity;
    const x = this.seed + serial * STEP;
    return this.max - Math.floor((x - Math.floor(x)) * this.spread);
  }

  /**
   * Whether a request that `requests` earlier ones preceded on the connection with this serial
   * is its last (called for requests at `lowest` or more): its own limit reached, or the
   * process's first close brought forward.
   */
  isLast(requests: number, serial: number): boolean {
    if (this.untilFirstClose > 0 && --this.untilFirstClose === 0) {
      this.lowest = this.spreadLowest;
      return true;
    }
    return requests >= this.limitOf(serial);
  }
}
