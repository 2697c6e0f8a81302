// log-destination.ts: the non-blocking pipe writer on a fake pipe with an injected clock: lines in
// order, held while the pipe is full, dropped past the buffer and reported once, the bounded exit.
import { describe, expect, it } from 'vitest';
import { EXIT_FLUSH_MAX_MS, EXIT_FLUSH_MS, LOG_BUFFER_BYTES, PipeWriter, type Stall, stallError } from '../../server/log-destination.js';

/** A pipe of `capacity` bytes that a reader drains when told: as Linux, a write of at most 4096 bytes goes whole or fails with EAGAIN. */
class FakePipe {
  data = '';
  room: number;
  constructor(capacity = 65_536) {
    this.room = capacity;
  }
  write(chunk: string | Uint8Array): number {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    if (this.room === 0 || (buf.length <= 4096 && buf.length > this.room)) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
    const n = Math.min(buf.length, this.room);
    this.data += buf.subarray(0, n).toString();
    this.room -= n;
    return n;
  }
  read(): string {
    const out = this.data;
    this.room += Buffer.byteLength(out);
    this.data = '';
    return out;
  }
}

function make(capacity?: number) {
  const pipe = new FakePipe(capacity);
  const clock = { t: 1_000_000 };
  const timers: (() => void)[] = [];
  const resumed: { stall: Stall; at: number }[] = [];
  const stderr: string[] = [];
  let read = '';
  const w = new PipeWriter({
    fd: 9,
    write: (_fd, data) => pipe.write(data),
    now: () => clock.t,
    sleep: (ms) => (clock.t += ms),
    later: (fn) => timers.push(fn),
    onResumed: (stall, at) => resumed.push({ stall, at }),
    writeStderr: (t) => stderr.push(t),
  });
  const retry = () => timers.splice(0).forEach((fn) => fn());
  const drainReader = () => (read += pipe.read());
  return { w, pipe, clock, retry, drainReader, resumed, stderr, read: () => read + pipe.data, timers };
}

const line = (i: number, pad = 100) => `${JSON.stringify({ seq: i, msg: 'x'.repeat(pad) })}\n`;

describe('the non-blocking pipe writer for stdout', () => {
  it('writes each line at once while the pipe has room, and schedules nothing', () => {
    const { w, read, timers } = make();
    for (let i = 0; i < 10; i++) w.write(line(i));
    expect(read()).toBe(Array.from({ length: 10 }, (_, i) => line(i)).join(''));
    expect(timers).toHaveLength(0);
  });

  it('holds lines the full pipe does not take, returns at once, and writes them in order once the reader drains it', () => {
    const { w, drainReader, retry, read, resumed, pipe } = make(1000);
    for (let i = 0; i < 50; i++) w.write(line(i));
    expect(w.pending).toBeGreaterThan(0);
    for (let round = 0; round < 100 && w.pending > 0; round++) {
      drainReader();
      retry();
    }
    drainReader();
    expect(w.pending).toBe(0);
    expect(read()).toBe(Array.from({ length: 50 }, (_, i) => line(i)).join(''));
    expect(resumed).toEqual([]); // nothing was dropped: nothing to report
    expect(pipe.data).toBe('');
  });

  it('drops and counts the lines past LOG_BUFFER_BYTES, and reports them once, with how long the pipe stalled, when it took what was held', () => {
    const t = make(4096);
    for (let i = 0; i < 100; i++) t.w.write(line(i, 3000));
    const held = t.w.pending;
    expect(held).toBeGreaterThan(0);
    // Fill the buffer to its cap: every further line is dropped.
    const big = line(0, 4000);
    while (t.w.pending + Buffer.byteLength(big) <= LOG_BUFFER_BYTES) t.w.write(big);
    t.w.write(big);
    t.w.write(big);
    t.clock.t += 12_000;
    for (let round = 0; round < 100_000 && t.w.pending > 0; round++) {
      t.drainReader();
      t.retry();
    }
    expect(t.resumed).toHaveLength(1);
    expect(t.resumed[0]!.stall).toMatchObject({ lines: 2, bytes: 2 * Buffer.byteLength(big) });
    expect(t.resumed[0]!.at - t.resumed[0]!.stall.since).toBe(12_000);
  });

  it('gives the exit flush EXIT_FLUSH_MS on a stalled pipe, then says on stderr what is lost', () => {
    const { w, clock, stderr } = make(0);
    w.write(line(1));
    w.write(line(2));
    const start = clock.t;
    w.flushSync();
    expect(clock.t - start).toBeGreaterThanOrEqual(EXIT_FLUSH_MS);
    expect(clock.t - start).toBeLessThan(EXIT_FLUSH_MS + 50);
    expect(stderr).toEqual([`tspuma: stdout did not take the last ${2 * Buffer.byteLength(line(1))} bytes of log lines within ${EXIT_FLUSH_MS} ms of exit (its reader stalled); they are lost\n`]);
  });

  it('keeps writing at exit past EXIT_FLUSH_MS while a slow reader takes lines (a loaded machine), up to EXIT_FLUSH_MAX_MS in all', () => {
    const { w, pipe, clock, stderr, read, drainReader } = make(4096);
    for (let i = 0; i < 300; i++) w.write(line(i));
    // The reader empties the pipe every 150 ms of the flush's sleeps: 300 lines of ~118 bytes need ~9 reads.
    slowReader(w, clock, drainReader, 150);
    const start = clock.t;
    w.flushSync();
    expect(w.pending).toBe(0);
    expect(stderr).toEqual([]);
    const seqs = read().trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(clock.t - start).toBeGreaterThan(EXIT_FLUSH_MS);
    expect(clock.t - start).toBeLessThan(EXIT_FLUSH_MAX_MS);
  });

  it('ends the exit flush at EXIT_FLUSH_MAX_MS however steadily a slow reader takes lines, and says on stderr what is lost', () => {
    const { w, clock, stderr, read, drainReader } = make(4096);
    for (let i = 0; i < 2000; i++) w.write(line(i));
    // A read every 500 ms of the flush's sleeps: never EXIT_FLUSH_MS without progress, ~29 s for all of it.
    slowReader(w, clock, drainReader, 500);
    const start = clock.t;
    w.flushSync();
    expect(clock.t - start).toBeGreaterThanOrEqual(EXIT_FLUSH_MAX_MS);
    expect(clock.t - start).toBeLessThan(EXIT_FLUSH_MAX_MS + 50);
    const written = read().trim().split('\n').length;
    expect(written).toBeGreaterThan(100);
    expect(written).toBeLessThan(2000);
    expect(w.pending).toBe(0);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^tspuma: stdout did not take the last \d+ bytes of log lines within 10 s of exit \(its reader took lines, too slowly\); they are lost\n$/);
  });

  it('writes everything held at exit when the pipe takes it, and says nothing', () => {
    const { w, stderr, read, drainReader } = make(300);
    for (let i = 0; i < 5; i++) w.write(line(i));
    drainReader();
    (w as unknown as { d: { write: (fd: number, d: string | Uint8Array) => number } }).d.write = (_fd, d) => Buffer.byteLength(typeof d === 'string' ? d : Buffer.from(d).toString());
    w.flushSync();
    expect(w.pending).toBe(0);
    expect(stderr).toEqual([]);
    expect(read()).toContain(line(0));
  });

  it('stops writing, without an error, once the reader is gone (EPIPE)', () => {
    const { w } = make();
    (w as unknown as { d: { write: () => number } }).d.write = () => {
      throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
    };
    expect(w.write(line(1))).toBe(true);
    expect(w.pending).toBe(0);
    w.flushSync();
  });

  it('says what was dropped, for how long, in a coded warning', () => {
    const err = stallError({ lines: 812, bytes: 93_000, since: 0 }, 104_060);
    expect(err.code).toBe('TSPUMA_ERR_LOG_DROPPED');
    expect(err.message).toBe('stdout did not take log lines for 104.1 s (its reader stalled: a log collector or a pipe nobody drained); 812 line(s) (93000 bytes) past the 4 MiB buffer were dropped. Serving went on.');
  });
});

/** The exit flush's sleeps advance `clock`, and the reader empties the pipe every `everyMs` of them. */
function slowReader(w: unknown, clock: { t: number }, drainReader: () => void, everyMs: number): void {
  let slept = 0;
  (w as { d: { sleep: (ms: number) => void } }).d.sleep = (ms) => {
    clock.t += ms;
    slept += ms;
    if (slept % everyMs === 0) drainReader();
  };
}
