// Each worker's fair share of the cluster's keep-alive connections (balanceConnections). The workers
// share one accept queue (listeners.ts), so a burst of connections (a client's pool opened at once,
// the reconnections after a restart or a maxKeepAlive wave) goes to whichever worker wakes first,
// and a keep-alive connection then stays with it: ten connections can sit 9/1 or 10/0 for
// thousands of requests while the other worker idles. Puma's answer is to delay a busy worker's
// accept (wait_for_less_busy_worker); node has no public way to hold a worker's accepts, so a
// worker over its share closes that many connections after their next response instead, and their
// clients reconnect (a busy worker accepts later than an idle one).

/** A worker's connections that a `Connection: close` can move: every state but upgraded and streaming. */
export interface HeldConnections {
  first_data: number;
  reading: number;
  app: number;
  keepalive: number;
}

export function movable(c: HeldConnections): number {
  return c.first_data + c.reading + c.app + c.keepalive;
}

/**
 * How many of `held[i]`'s connections worker i should close: those above the cluster's share
 * (total over workers, rounded up), when it holds over a fifth more than that share and at least
 * two more than the least loaded worker (5/5, 6/5, 6/4 and 55/45 stay; 7/3, 8/2, 2/0, 65/35 move):
 * a near-even split of many connections is left alone, where every shed is a reconnection. 0 with
 * fewer than two workers.
 */
export function excessConnections(held: readonly number[], i: number): number {
  if (held.length < 2) return 0;
  let total = 0;
  let least = Infinity;
  for (const n of held) {
    total += n;
    if (n < least) least = n;
  }
  const n = held[i]!;
  const share = Math.ceil(total / held.length);
  return n > share * 1.2 && n - least >= 2 ? n - share : 0;
}
