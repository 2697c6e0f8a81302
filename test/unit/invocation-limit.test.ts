// The invocation limit: at most max in flight, FIFO, cancellation.
import { describe, expect, it } from 'vitest';
import { InvocationLimit } from '../../server/invocation-limit.js';

describe('InvocationLimit', () => {
  it('runs up to max and queues the rest in order', () => {
    const pool = new InvocationLimit(0, 2);
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) pool.submit(() => ran.push(i));
    expect(ran).toEqual([0, 1]);
    expect(pool.stats()).toMatchObject({ running: 2, backlog: 3, pool_capacity: 0, busy_threads: 5, max_threads: 2 });
    pool.release();
    expect(ran).toEqual([0, 1, 2]);
    pool.release();
    pool.release();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(pool.stats().requests_count).toBe(5);
  });

  it('skips cancelled waiters', () => {
    const pool = new InvocationLimit(0, 1);
    const ran: string[] = [];
    pool.submit(() => ran.push('a'));
    const b = pool.submit(() => ran.push('b'));
    pool.submit(() => ran.push('c'));
    b!.cancel();
    b!.cancel();
    expect(pool.backlog).toBe(1);
    pool.release();
    expect(ran).toEqual(['a', 'c']);
    expect(pool.backlog).toBe(0);
  });
});
