// A counting semaphore for app invocations: at most `threads.max` in flight at once (Puma's
// thread pool, for an event loop); the rest wait in a FIFO queue and start as slots free up.

/** A queued invocation; cancel() removes it if the client went away before its turn. */
export interface Ticket {
  cancel(): void;
}

interface Waiter {
  run: () => void;
  next: Waiter | null;
  cancelled: boolean;
}

/**
 * No threads: `max` is the most app invocations in flight (an
 * async handler awaiting I/O still holds its slot until the response is finished). Work over
 * the limit waits in a FIFO queue instead of piling onto the event loop.
 */
export class InvocationLimit {
  running = 0;
  /** Queued, not cancelled. */
  backlog = 0;
  /** Invocations started since boot. */
  requestsCount = 0;
  private head: Waiter | null = null;
  private tail: Waiter | null = null;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {}

  /** Takes a slot if one is free and nobody is queued; the caller then runs and later release()s. */
  tryAcquire(): boolean {
    if (this.running >= this.max || this.head !== null) return false;
    this.running++;
    this.requestsCount++;
    return true;
  }

  /** Runs `run` now if a slot is free, else queues it. Each started run must call release() once. */
  submit(run: () => void): Ticket | null {
    if (this.tryAcquire()) {
      run();
      return null;
    }
    const waiter: Waiter = { run, next: null, cancelled: false };
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.backlog++;
    return {
      cancel: () => {
        if (waiter.cancelled) return;
        waiter.cancelled = true;
        this.backlog--;
      },
    };
  }

  release(): void {
    this.running--;
    while (this.head !== null && this.running < this.max) {
      const w = this.head;
      this.head = w.next;
      if (this.head === null) this.tail = null;
      if (w.cancelled) continue;
      this.backlog--;
      this.start(w.run);
    }
  }

  private start(run: () => void): void {
    this.running++;
    this.requestsCount++;
    run();
  }

  /** Puma's thread-pool stats, with Puma's meanings mapped onto slots. */
  stats(): { backlog: number; running: number; pool_capacity: number; busy_threads: number; max_threads: number; requests_count: number } {
    return {
      backlog: this.backlog,
      running: this.running,
      pool_capacity: this.max - this.running,
      busy_threads: this.running + this.backlog,
      max_threads: this.max,
      requests_count: this.requestsCount,
    };
  }
}
