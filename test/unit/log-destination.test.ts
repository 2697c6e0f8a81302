// log-destination.ts: stdout's buffer, the dropped-lines warning and the bounded exit flush, on a
// fake sonic-boom with an injected clock.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createStdout, EXIT_FLUSH_MS, LOG_BUFFER_BYTES, type SonicBoomLike, type Stall, stallError, type StdoutKind } from '../../server/log-destination.js';

class FakeBoom extends EventEmitter {
  opts: Record<string, unknown> = {};
  _len = 0;
  written: string[] = [];
  /** What flushSync does: retries EAGAIN as sonic-boom does, asking retryEAGAIN each time. */
  stalled = false;
  write(data: string): boolean {
    this.written.push(data);
    return true;
  }
  flushSync(): void {
    const retry = this.opts.retryEAGAIN as () => boolean;
    while (this.stalled) {
      if (!retry()) throw Object.assign(new Error('EAGAIN: resource temporarily unavailable, write'), { code: 'EAGAIN' });
      clock.t += 100;
    }
    this._len = 0;
  }
}
const clock = { t: 1_000_000 };

function make(kind: StdoutKind = 'pipe') {
  const boom = new FakeBoom();
  const resumed: { stall: Stall; at: number }[] = [];
  const stderr: string[] = [];
  const reopened: number[] = [];
  const dest = createStdout({
    destination: (opts) => {
      boom.opts = opts;
      return boom as unknown as SonicBoomLike;
    },
    onResumed: (stall, at) => resumed.push({ stall, at }),
    now: () => clock.t,
    writeStderr: (t) => stderr.push(t),
    kind: () => kind,
    reopen: () => (reopened.push(1), 42),
  });
  return { boom, dest, resumed, stderr, reopened };
}

describe('stdout for the log', () => {
  it('is asynchronous, bounded at LOG_BUFFER_BYTES, and writes a pipe through a descriptor of its own', () => {
    const { boom, reopened } = make('pipe');
    expect(boom.opts).toMatchObject({ dest: 42, sync: false, maxLength: LOG_BUFFER_BYTES, maxWrite: 4096 });
    expect(reopened).toHaveLength(1);
  });

  it('writes fd 1 itself when stdout is a socket or a file (neither can be opened again as its own)', () => {
    for (const kind of ['socket', 'other'] as const) {
      const { boom, reopened } = make(kind);
      expect(boom.opts).toMatchObject({ dest: 1, sync: false });
      expect(reopened).toHaveLength(0);
    }
  });

  it('counts the lines dropped past the buffer and reports them once, when the pipe has taken half the buffer back', () => {
    const { boom, resumed } = make();
    const start = clock.t;
    boom._len = LOG_BUFFER_BYTES;
    boom.emit('drop', 'a line of 20 bytes\n\n');
    clock.t += 30_000;
    boom.emit('drop', Buffer.from('héllo\n'));
    // A first partial write while most of the buffer is still held: not yet.
    boom._len = LOG_BUFFER_BYTES - 65_536;
    boom.emit('write', 65_536);
    expect(resumed).toEqual([]);
    boom._len = 1000;
    clock.t += 4_000;
    boom.emit('write', LOG_BUFFER_BYTES);
    expect(resumed).toEqual([{ stall: { lines: 2, bytes: 20 + 7, since: start }, at: start + 34_000 }]);
    boom.emit('write', 10);
    expect(resumed).toHaveLength(1);
  });

  it('says what was dropped, for how long, in a coded warning', () => {
    const err = stallError({ lines: 812, bytes: 93_000, since: 0 }, 104_060);
    expect(err.code).toBe('TSPUMA_ERR_LOG_DROPPED');
    expect(err.message).toBe('stdout did not take log lines for 104.1 s (its reader stalled: a log collector or a pipe nobody drained); 812 line(s) (93000 bytes) past the 4 MiB buffer were dropped. Serving went on.');
  });

  it('gives the exit flush EXIT_FLUSH_MS on a stalled pipe, then says on stderr what is lost', () => {
    const { boom, dest, stderr } = make();
    boom.stalled = true;
    boom._len = 5000;
    boom.emit('drop', 'x\n');
    const start = clock.t;
    dest.flushSync();
    expect(clock.t - start).toBeGreaterThanOrEqual(EXIT_FLUSH_MS);
    expect(clock.t - start).toBeLessThan(EXIT_FLUSH_MS + 200);
    expect(stderr).toEqual([`tspuma: stdout did not take the last 5000 bytes of log lines within ${EXIT_FLUSH_MS} ms of exit (EAGAIN: its reader stalled); they are lost; 1 earlier line(s) were dropped while it stalled\n`]);
  });

  it('flushes everything at exit when the pipe takes it, and says nothing', () => {
    const { boom, dest, stderr } = make();
    boom._len = 5000;
    dest.flushSync();
    expect(boom._len).toBe(0);
    expect(stderr).toEqual([]);
  });

  it('retries a full pipe while serving (no deadline before exit)', () => {
    const { boom } = make();
    clock.t += 3_600_000;
    expect((boom.opts.retryEAGAIN as () => boolean)()).toBe(true);
  });
});
