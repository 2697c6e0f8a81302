// A worker's stderr as the primary passes it on when the workers' inspectors are open: every
// byte unchanged and at once, except the lines Node's inspector writes from C++ straight to fd 2
// when a DevTools client attaches (`Debugger attached.`) or is still attached at exit (`Waiting
// for the debugger to disconnect...`), which DEBUGGING.md says tspuma keeps out of the output.
// Bytes are held only while what starts a line could still be one of those lines (at most one
// such line's length, and never longer than HOLD_MS); the rest of a line goes on as it arrives,
// so an app's partial line or progress output is not delayed. Backpressure: the worker's pipe is
// paused while the destination is full.
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';

/** The lines node's inspector prints on stderr for an attach or a wait at exit (src/inspector_io.cc, inspector_agent.cc). */
export const NODE_INSPECTOR_LINES: readonly string[] = ['Debugger attached.\n', 'Waiting for the debugger to disconnect...\n'];

/** How long a possible start of one of node's lines is held before it is passed on as the app's. */
export const HOLD_MS = 20;

const LINES = NODE_INSPECTOR_LINES.map((l) => Buffer.from(l));

/** Whether `held` is one of node's lines (2), could still become one (1), or is not one (0). */
function matchState(held: Buffer): 0 | 1 | 2 {
  let state: 0 | 1 | 2 = 0;
  for (const line of LINES) {
    if (held.length > line.length) continue;
    if (line.subarray(0, held.length).equals(held)) {
      if (held.length === line.length) return 2;
      state = 1;
    }
  }
  return state;
}

export class NodeLineFilter extends Transform {
  /** Bytes at the start of a line that may be one of node's lines. */
  private held: Buffer = Buffer.alloc(0);
  /** Whether the next byte starts a line. */
  private atLineStart = true;
  private timer: NodeJS.Timeout | null = null;
  /** Lines dropped (for tests and the primary's debug log). */
  dropped = 0;

  constructor(private readonly holdMs = HOLD_MS) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.cancelHold();
    const out: Buffer[] = [];
    let data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    let from = 0;
    while (from < data.length) {
      if (!this.atLineStart) {
        const nl = data.indexOf(10, from);
        const end = nl === -1 ? data.length : nl + 1;
        out.push(data.subarray(from, end));
        from = end;
        this.atLineStart = nl !== -1;
        continue;
      }
      // At a line start: take bytes while they may still be one of node's lines.
      let end = from;
      let state: 0 | 1 | 2 = 1;
      while (end < data.length && state === 1) {
        end++;
        state = matchState(data.subarray(from, end));
      }
      if (state === 2) {
        this.dropped++;
        from = end; // dropped; the next byte starts a line again
      } else if (state === 1) {
        this.held = Buffer.from(data.subarray(from)); // the chunk ended inside a possible node line
        from = data.length;
      } else {
        this.atLineStart = false; // not one of node's: the line goes on from its first byte
      }
    }
    data = Buffer.alloc(0);
    if (out.length > 0) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    if (this.held.length > 0) {
      this.timer = setTimeout(() => this.release(), this.holdMs);
      this.timer.unref();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.cancelHold();
    if (this.held.length > 0) this.push(this.held);
    this.held = Buffer.alloc(0);
    done();
  }

  /** The held bytes were the app's after all (nothing completed node's line in time): pass them on. */
  private release(): void {
    this.timer = null;
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = Buffer.alloc(0);
    this.atLineStart = false;
    this.push(held);
  }

  private cancelHold(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

const open = new Set<Promise<void>>();

/**
 * Passes a worker's stderr on to `dest` (the primary's stderr) through the filter, with
 * backpressure; `dest` is never ended. The returned promise settles once the worker's stderr has
 * ended and every byte of it was written.
 */
export function passWorkerStderr(source: Readable, dest: Writable = process.stderr): Promise<void> {
  const filter = new NodeLineFilter();
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      open.delete(done);
      resolve();
    };
    filter.once('end', finish);
    filter.once('error', finish);
    source.once('error', () => filter.end());
  });
  open.add(done);
  source.pipe(filter).pipe(dest, { end: false });
  return done;
}

/** Waits (at most `ms`) until every worker's stderr passed on has ended: no line is lost when the primary exits. */
export async function workerStderrDrained(ms: number): Promise<void> {
  if (open.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all([...open]), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
