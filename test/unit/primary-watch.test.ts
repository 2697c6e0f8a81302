// Unit: a worker's watch on its primary (server/cluster/primary-watch.ts) on a hand-moved clock
// and a fake process: it reports the IPC channel's disconnect and a changed parent pid, once.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PARENT_CHECK_MS, watchPrimary } from '../../server/cluster/primary-watch.js';
import { FakeClock } from '../helpers/fake-clock.js';

class FakeProcess extends EventEmitter {
  ppid = 100;
  connected = true;
}

describe('watchPrimary', () => {
  it('reports a closed IPC channel at once, naming it, and only once', async () => {
    const proc = new FakeProcess();
    const clock = new FakeClock();
    const why: string[] = [];
    const watch = watchPrimary((w) => why.push(w), proc, clock);
    expect(watch.primaryPid).toBe(100);
    proc.emit('disconnect');
    proc.ppid = 1;
    await clock.advance(3 * PARENT_CHECK_MS);
    expect(why).toEqual(['its IPC channel closed']);
    expect(clock.pending).toBe(0);
  });

  it('reports a parent pid that changed (the channel still open) within one check, naming the new parent', async () => {
    const proc = new FakeProcess();
    const clock = new FakeClock();
    const why: string[] = [];
    watchPrimary((w) => why.push(w), proc, clock);
    await clock.advance(5 * PARENT_CHECK_MS);
    expect(why).toEqual([]);
    proc.ppid = 1;
    await clock.advance(PARENT_CHECK_MS);
    expect(why).toEqual(['its parent process is now PID 1']);
    proc.emit('disconnect');
    await clock.advance(3 * PARENT_CHECK_MS);
    expect(why).toHaveLength(1);
    expect(proc.listenerCount('disconnect')).toBe(0);
  });

  it('stop() ends the watch: no timer, no listener, no report', async () => {
    const proc = new FakeProcess();
    const clock = new FakeClock();
    const why: string[] = [];
    watchPrimary((w) => why.push(w), proc, clock).stop();
    proc.ppid = 1;
    proc.emit('disconnect');
    await clock.advance(3 * PARENT_CHECK_MS);
    expect(why).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(proc.listenerCount('disconnect')).toBe(0);
  });

  it('T7: a primary gone before the watch began (the channel closed already, or the parent is init now) is reported before watchPrimary returns, naming the primary it was given', async () => {
    const closed = Object.assign(new FakeProcess(), { connected: false });
    const clock = new FakeClock();
    const why: string[] = [];
    expect(watchPrimary((w) => why.push(w), closed, clock, 4242).primaryPid).toBe(4242);
    expect(why).toEqual(['its IPC channel closed']);
    const reparented = Object.assign(new FakeProcess(), { ppid: 1 });
    watchPrimary((w) => why.push(w), reparented, clock, 4242);
    expect(why).toEqual(['its IPC channel closed', 'its parent process is now PID 1']);
    await clock.advance(3 * PARENT_CHECK_MS);
    expect(why).toHaveLength(2);
    expect(clock.pending).toBe(0);
  });
});
