// Error-storm back-off, decided on an injected clock: when the failures reported are mostly repeats
// of dumps whose functions are muted (site-mutes.ts: V8 does not pause there, yet while any
// pause-on-exceptions state is set it still runs its exception event at every throw, ~21,000
// instructions a throw: bench/README.md, sessions 22-24), pausing at throws goes off altogether for
// a short period (two Debugger.setPauseOnExceptions toggles, ~21 µs each), then on again.
//
// While it is off no throw pauses, so a failure of a new site has no values. Capture (capture.ts)
// ends the back-off at once when a failure is reported that is no known repeat (an error of
// another kind, an unexplained 5xx), so the next throw there pauses and is captured; no back-off
// starts again until a capture has been built or STORM_HOLD_MS has passed. An error of a dumped
// failure's kind thrown by another function (a generic message, review10.6) cannot be told from a
// repeat without reading where it was made (made-at.ts: 70,000-130,000 instructions, several times what the
// back-off saves a throw), so during a back-off one kind-matched failure in STORM_CHECK_EVERY, and
// the first of each back-off, is told by where its stack starts (index.ts, kindSite); the others
// are counted by their kind. Between back-offs pausing is on, and such a failure pauses there.

/** Muted repeats a second past which pausing goes off (the global rate's figure, capture-budget.ts). */
export const STORM_PER_SECOND = 20;
/** How long pausing stays off for one back-off (ms). */
export const STORM_MS = 1000;
/** After a failure ended a back-off, none starts again until a capture is built or this passes (ms). */
export const STORM_HOLD_MS = 60_000;
/** During a back-off, every this-many-th failure counted by its kind is told by its stack instead. */
// 16 cost ~8,000 instructions a repeat in bench/throw-cost.sh's loop (50,580 against 42,498 with
// no check: a check ~130,000 there); 64 costs ~2,000.
export const STORM_CHECK_EVERY = 64;

export interface StormLimits {
  perSecond: number;
  periodMs: number;
  holdMs: number;
  checkEvery: number;
}

export const STORM_LIMITS: StormLimits = { perSecond: STORM_PER_SECOND, periodMs: STORM_MS, holdMs: STORM_HOLD_MS, checkEvery: STORM_CHECK_EVERY };

export class ErrorStorm {
  /** Pausing stays off until this time (ms on the clock); -Infinity: no back-off. */
  until = Number.NEGATIVE_INFINITY;
  /** Back-offs started. */
  storms = 0;
  /** Back-offs ended early by a failure that was no known repeat. */
  calmed = 0;
  private windowStart = Number.NEGATIVE_INFINITY;
  private windowCount = 0;
  /** No back-off starts before this (ms): set by calm(), lifted by captured(). */
  private heldUntil = Number.NEGATIVE_INFINITY;
  /** Kind-matched failures counted in the current back-off (for checkDue). */
  private counted = 0;

  constructor(
    private readonly limits: StormLimits,
    private readonly now: () => number,
  ) {}

  /** The rate past which a back-off starts (muted repeats a second). */
  get perSecond(): number {
    return this.limits.perSecond;
  }

  /** How long one back-off holds pausing off (ms). */
  get periodMs(): number {
    return this.limits.periodMs;
  }

  /** Whether a back-off holds pausing off now. */
  on(): boolean {
    return this.now() < this.until;
  }

  /**
   * Counts one muted repeat (reported while pausing is on, with nothing paused at). True when it is
   * one past `perSecond` in the current second: a back-off starts now and lasts until `until`.
   */
  repeat(): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount <= this.limits.perSecond || now < this.heldUntil || now < this.until) return false;
    this.storms++;
    this.until = now + this.limits.periodMs;
    this.counted = 0;
    this.windowCount = 0;
    return true;
  }

  /**
   * A failure that is no known repeat came during a back-off: it ends now, and none starts again
   * until a capture is built (captured()) or `holdMs` passes, so that failure's next throw pauses.
   * Also past `until` while pausing is still off (the timer that ends the back-off runs late when a
   * capture holds the loop): the caller asks only while it is (stormrev.1).
   */
  calm(): void {
    const now = this.now();
    if (this.until === Number.NEGATIVE_INFINITY) return;
    this.calmed++;
    this.until = Number.NEGATIVE_INFINITY;
    this.heldUntil = now + this.limits.holdMs;
    this.windowCount = 0;
  }

  /** A capture was built: a back-off may start again. */
  captured(): void {
    this.heldUntil = Number.NEGATIVE_INFINITY;
  }

  /** During a back-off: whether this failure, of a dumped failure's kind, is told by its stack (the first, then one in `checkEvery`). */
  checkDue(): boolean {
    return this.counted++ % this.limits.checkEvery === 0;
  }
}
