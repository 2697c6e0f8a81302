// What a pause at a throw may cost, decided on an injected clock: a
// capture (frames and values), a counted repeat at a known site, or nothing because throws come
// faster than the global rate (pausing then goes off for a backoff that doubles while it keeps
// tripping and resets after a quiet minute).
//
// A throw storm: failures at sites already dumped, reported without a pause (their functions muted,
// site-mutes.ts), STORM_REPEATS or more within a second. Each still costs V8's exception event
// while pausing is on (catch prediction and the mute checks: a muted throw in a listener 57,600
// instructions, with pausing off 46,500, plain 40,300; bench/README.md session 15), so pausing goes
// off for STORM_MS. A failure no dump explains that arrives during a storm is dumped from
// its stack, without values, and calms it: pausing is back on at once, and no storm starts again
// until that site has been captured (its next throw) or perSiteMs has passed.

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
/** Unpaused repeats within one second that start a storm (the global rate's figure). */
export const STORM_REPEATS = 20;
/** How long pausing stays off for a storm: two toggles (~21 µs each) a storm, against some 4-13 µs of V8's event a muted throw. */
export const STORM_MS = 1000;
/** Sites dumped without values in a storm, awaiting their capture, remembered at most. */
const MAX_AWAITED = 100;

export class CaptureBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private windowCount = 0;
  private backoffMs = FIRST_BACKOFF_MS;
  private lastTrip = Number.NEGATIVE_INFINITY;
  /** Pausing stays off until this time (ms on the clock). */
  backoffUntil = Number.NEGATIVE_INFINITY;
  trips = 0;
  private readonly sites = new Map<string, number>();
  /** Pausing stays off for a throw storm until this time (ms on the clock). */
  stormUntil = Number.NEGATIVE_INFINITY;
  storms = 0;
  private stormWindowStart = Number.NEGATIVE_INFINITY;
  private stormCount = 0;
  /** Sites dumped without values during a storm -> when: no storm starts while one awaits its capture. */
  private readonly awaited = new Map<string, number>();

  constructor(
    private readonly limits: BudgetLimits,
    private readonly now: () => number,
  ) {}

  /** Whether pausing may be on now (false during a backoff or a storm). */
  pausingAllowed(): boolean {
    const now = this.now();
    return now >= this.backoffUntil && now >= this.stormUntil;
  }

  /** Whether a storm, and nothing else, holds pausing off now. */
  stormOnly(): boolean {
    const now = this.now();
    return now < this.stormUntil && now >= this.backoffUntil;
  }

  /**
   * Counts one failure reported at a known site without a pause (a muted function's). True when it
   * starts a storm: the STORM_REPEATS-th within a second, none during one, and no site awaiting its
   * capture (calm). Pausing is then off until `stormUntil`.
   */
  repeatUnpaused(): boolean {
    const now = this.now();
    if (now < this.stormUntil) return false;
    if (now - this.stormWindowStart >= 1000) {
      this.stormWindowStart = now;
      this.stormCount = 0;
    }
    if (++this.stormCount < STORM_REPEATS || this.awaiting(now)) return false;
    this.stormWindowStart = Number.NEGATIVE_INFINITY;
    this.stormUntil = now + STORM_MS;
    this.storms++;
    return true;
  }

  /**
   * A failure no dump explains arrived during a storm, at `site`, and was dumped without values:
   * the storm ends now, and none starts until that site is captured or perSiteMs has passed.
   */
  calm(site: string): void {
    this.stormUntil = Number.NEGATIVE_INFINITY;
    this.awaited.delete(site);
    if (this.awaited.size >= MAX_AWAITED) this.awaited.delete(this.awaited.keys().next().value!);
    this.awaited.set(site, this.now());
  }

  /** A capture was built at `site` (a dump site, file:line): it no longer holds storms off. */
  captured(site: string): void {
    this.awaited.delete(site);
  }

  /** Whether a site dumped in a storm still awaits its capture (those past perSiteMs are dropped). */
  private awaiting(now: number): boolean {
    for (const [site, since] of this.awaited) if (now - since >= this.limits.perSiteMs) this.awaited.delete(site);
    return this.awaited.size > 0;
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
    this.stormUntil = Number.NEGATIVE_INFINITY;
    this.stormWindowStart = Number.NEGATIVE_INFINITY;
    this.stormCount = 0;
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
