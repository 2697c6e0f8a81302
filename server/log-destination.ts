// Where tspuma's log lines go: stdout, written so that a stalled reader never holds the thread
// that logs. A log reader that stops reading (a container runtime stalling, a `| tee` or collector
// that hangs, a FIFO nobody drains) fills the pipe after 64 KiB; a blocking write then waits for
// it, and every worker and the primary (its /health and /ready with it) stop for as long as the
// reader does. When stdout is a pipe, tspuma writes through a non-blocking descriptor of its own:
// each line is written at once, in order, as before; a line the full pipe does not take waits in a
// bounded buffer, retried on a timer, and past the buffer lines are dropped and counted, and one
// warning says so once the pipe takes lines again. At exit the buffer is written while the pipe takes
// it (a second with nothing taken, or ten in all, ends it), and what is left is said on stderr. A socket or a file as stdout is written as before (synchronously).
// node's global Buffer is an accessor (a LoadGlobalIC and a getter call, ~120 instructions a read;
// bench/README.md session 19, fetch12): a line's byte count reads the module's binding.
import { Buffer } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { TspumaError } from './errors.js';

/** What a stalled stdout may hold before lines are dropped (per process). */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;
/** How long the exit flush waits for a stdout that takes nothing before it gives up. */
export const EXIT_FLUSH_MS = 1000;
/** The exit flush's bound while the reader does take lines, slowly (a loaded machine's `| cat`). */
export const EXIT_FLUSH_MAX_MS = 10_000;
/** How often a full pipe is tried again. */
export const RETRY_MS = 50;

/** What kind of file stdout is: a pipe or FIFO, a socket, or anything else (a file, a terminal). */
export type StdoutKind = 'pipe' | 'socket' | 'other';
export function stdoutKind(fd = 1): StdoutKind {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() ? 'pipe' : st.isSocket() ? 'socket' : 'other';
  } catch {
    return 'other';
  }
}

/**
 * A descriptor of stdout's pipe that is tspuma's own, opened non-blocking: a write to a full pipe
 * fails with EAGAIN at once instead of waiting in the kernel. Its own, because the flags of fd 1
 * belong to every process that shares it: libuv makes a spawned child's stdio blocking (each
 * forked worker does it to the primary's stdout), and node puts back, as it exits, the flags it
 * started with. Linux opens a pipe again through /proc; a socket it does not.
 */
export function ownPipe(): number | null {
  try {
    return openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
}

export interface Stall {
  /** Lines dropped since the buffer filled. */
  lines: number;
  /** Their bytes. */
  bytes: number;
  /** When the first line was held back (ms, the injected clock). */
  since: number;
}

/** The system calls and clock the writer uses (tests inject them). */
export interface PipeWriterDeps {
  fd: number;
  /** fs.writeSync: bytes written; throws EAGAIN when the pipe is full. */
  write(fd: number, data: string | Uint8Array): number;
  now(): number;
  /** Waits ms without running the event loop (the exit flush). */
  sleep(ms: number): void;
  /** Schedules a retry of a full pipe (unref'd). */
  later(fn: () => void, ms: number): void;
  /** Called once the pipe took every held line after some were dropped. */
  onResumed(stall: Stall, now: number): void;
  writeStderr(text: string): void;
}

/** pino's destination over a non-blocking pipe descriptor: in order, never waiting. */
export class PipeWriter {
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private stall: Stall | null = null;
  private retrying = false;
  private muted = false;

  constructor(private readonly d: PipeWriterDeps) {}

  write(line: string): boolean {
    if (this.muted) return true;
    if (this.held.length === 0) {
      const n = this.tryWrite(line);
      if (n === Buffer.byteLength(line)) return true;
      this.hold(Buffer.from(line).subarray(n));
    } else this.hold(Buffer.from(line));
    this.retryLater();
    return true;
  }

  /** Bytes the pipe has not taken yet. */
  get pending(): number {
    return this.heldBytes;
  }

  /**
   * At exit: what is held is written while the pipe takes it, until EXIT_FLUSH_MS pass with nothing
   * taken (a stalled reader) or EXIT_FLUSH_MAX_MS in all; what is left is said on stderr.
   */
  flushSync(): void {
    const start = this.d.now();
    let progressAt = start;
    while (this.held.length > 0 && !this.muted) {
      const before = this.heldBytes;
      if (this.drain()) break;
      const now = this.d.now();
      if (this.heldBytes < before) progressAt = now;
      if (now - progressAt >= EXIT_FLUSH_MS || now - start >= EXIT_FLUSH_MAX_MS) break;
      this.d.sleep(10);
    }
    if (this.held.length === 0 || this.muted) return;
    const dropped = this.stall === null || this.stall.lines === 0 ? '' : `; ${this.stall.lines} earlier line(s) were dropped while it stalled`;
    // Stalled (nothing taken for EXIT_FLUSH_MS), or reading on too slowly to finish by EXIT_FLUSH_MAX_MS.
    const why = this.d.now() - progressAt >= EXIT_FLUSH_MS ? `within ${EXIT_FLUSH_MS} ms of exit (its reader stalled)` : `within ${EXIT_FLUSH_MAX_MS / 1000} s of exit (its reader took lines, too slowly)`;
    this.d.writeStderr(`tspuma: stdout did not take the last ${this.heldBytes} bytes of log lines ${why}; they are lost${dropped}\n`);
    this.held.length = 0;
    this.heldBytes = 0;
  }

  /** Bytes written, 0 on a full pipe; a reader gone (EPIPE) mutes the writer. */
  private tryWrite(data: string | Buffer): number {
    try {
      return this.d.write(this.d.fd, data);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 0;
      if (code === 'EPIPE' || code === 'EIO') {
        this.muted = true;
        return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      }
      throw err;
    }
  }

  private hold(buf: Buffer): void {
    this.stall ??= { lines: 0, bytes: 0, since: this.d.now() };
    if (this.heldBytes + buf.length > LOG_BUFFER_BYTES) {
      this.stall.lines++;
      this.stall.bytes += buf.length;
      return;
    }
    this.held.push(buf);
    this.heldBytes += buf.length;
  }

  /** Writes what is held, in order, until the pipe is full again; true when all of it went. */
  private drain(): boolean {
    while (this.held.length > 0) {
      const head = this.held[0]!;
      const n = this.tryWrite(head);
      if (this.muted) {
        this.held.length = 0;
        this.heldBytes = 0;
        return true;
      }
      this.heldBytes -= n;
      if (n < head.length) {
        this.held[0] = head.subarray(n);
        return false;
      }
      this.held.shift();
    }
    const stall = this.stall;
    this.stall = null;
    if (stall !== null && stall.lines > 0) this.d.onResumed(stall, this.d.now());
    return true;
  }

  private retryLater(): void {
    if (this.retrying) return;
    this.retrying = true;
    this.d.later(() => {
      this.retrying = false;
      if (!this.drain()) this.retryLater();
    }, RETRY_MS);
  }
}

/** A PipeWriter over `fd` with the real system calls, flushed at the process's exit. */
export function pipeWriter(fd: number, onResumed: (stall: Stall, now: number) => void): PipeWriter {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const writer = new PipeWriter({
    fd,
    write: (f, data) => writeSync(f, data as string), // either kind: its overloads do not take the union
    now: Date.now,
    sleep: (ms) => void Atomics.wait(sleeper, 0, 0, ms),
    later: (fn, ms) => void setTimeout(fn, ms).unref(),
    onResumed,
    writeStderr: (text) => {
      try {
        writeSync(2, text);
      } catch {
        // stderr gone too: nothing left to tell.
      }
    },
  });
  process.on('exit', () => {
    writer.flushSync();
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  });
  return writer;
}

/** The warning logged when stdout takes lines again after some were dropped. */
export function stallError(stall: Stall, at: number): TspumaError {
  return new TspumaError('TSPUMA_ERR_LOG_DROPPED', {
    seconds: Math.round((at - stall.since) / 100) / 10,
    lines: stall.lines,
    bytes: stall.bytes,
    bufferMiB: LOG_BUFFER_BYTES / (1024 * 1024),
  });
}
