// What a pause at a throw may cost, decided on an injected clock: a
// capture (frames and values), a counted repeat at a known site, or nothing because throws come
// faster than the global rate (pausing then goes off for a backoff that doubles while it keeps
// tripping and resets after a quiet minute).

export interface BudgetLimits {
  /** A site is captured again only after this long (ms). */
  perSiteMs: number;
  /** Pauses per second before pausing is switched off for a backoff. */
  globalPerSecond: number;
}

export type SiteVerdict = 'capture' | 'repeat';

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
const QUIET_MS = 60_000;
/** Sites remembered at most; beyond, the oldest are forgotten (and may be captured again). */
const MAX_SITES = 10_000;

export class CaptureBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private windowCount = 0;
  private backoffMs = FIRST_BACKOFF_MS;
  private lastTrip = Number.NEGATIVE_INFINITY;
  /** Pausing stays off until this time (ms on the clock). */
  backoffUntil = Number.NEGATIVE_INFINITY;
  trips = 0;
  private readonly sites = new Map<string, number>();

  constructor(
    private readonly limits: BudgetLimits,
    private readonly now: () => number,
  ) {}

  /** Whether pausing may be on now (false during a backoff). */
  pausingAllowed(): boolean {
    return this.now() >= this.backoffUntil;
  }

  /**
   * Counts one pause. False when it is one too many for this second: the backoff starts now
   * (1 s, doubling to 60 s while trips follow each other within a minute) and the caller turns
   * pausing off until `backoffUntil`.
   */
  admit(): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount <= this.limits.globalPerSecond) return true;
    this.trips++;
    this.backoffMs = now - this.lastTrip > QUIET_MS ? FIRST_BACKOFF_MS : Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.lastTrip = now;
    this.backoffUntil = now + this.backoffMs;
    return false;
  }

  /**
   * Forgets the rate's state (window, backoff, trips' doubling): the process has begun serving.
   * Throws made while the app's modules loaded (a package's own caught probes under the app's
   * require, about twenty for an Express app loaded by tsx) are not failures of its requests, and
   * a trip they caused must not leave pausing off for the first requests. Sites are kept.
   */
  forgive(): void {
    this.windowStart = Number.NEGATIVE_INFINITY;
    this.windowCount = 0;
    this.backoffMs = FIRST_BACKOFF_MS;
    this.lastTrip = Number.NEGATIVE_INFINITY;
    this.backoffUntil = Number.NEGATIVE_INFINITY;
  }

  /** A throw at `site` (script:line:column of the app frame): captured once per perSiteMs. */
  site(site: string): SiteVerdict {
    const now = this.now();
    const last = this.sites.get(site);
    if (last !== undefined && now - last < this.limits.perSiteMs) return 'repeat';
    this.sites.delete(site);
    if (this.sites.size >= MAX_SITES) this.sites.delete(this.sites.keys().next().value!);
    this.sites.set(site, now);
    return 'capture';
  }
}
