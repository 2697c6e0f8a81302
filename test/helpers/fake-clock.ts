// A hand-driven Clock for unit tests: time moves only in advance(), which fires due timers in
// deadline order and lets promise continuations run between them.
import type { Clock, TimerHandle } from '../../server/cluster/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

/** Lets pending promise continuations and setImmediate callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  private time = Date.parse('2024-01-01T00:00:00Z');
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();

  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, ms);
  }
  clearTimeout(timer: TimerHandle): void {
    this.timers.delete(timer as number);
  }
  clearInterval(timer: TimerHandle): void {
    this.timers.delete(timer as number);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * The process did not run for ms (paused in a debugger, suspended): time jumps and no timer
   * fires; each overdue timer fires once at the next advance, as node's do after a block.
   */
  stall(ms: number): void {
    this.time += ms;
    for (const t of this.timers.values()) if (t.at < this.time) t.at = this.time;
  }

  /** Moves time forward by ms, firing each due timer at its own deadline, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (;;) {
      let next: Timer | null = null;
      for (const t of this.timers.values()) if (t.at <= end && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (!next) break;
      this.time = next.at;
      if (next.every === null) this.timers.delete(next.id);
      else next.at += next.every;
      next.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }

  private add(fn: () => void, ms: number, every: number | null): number {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn, every });
    return id;
  }
}
