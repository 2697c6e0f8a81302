// Where tspuma's log lines go: stdout, written without ever holding the thread that logs. A log
// reader that stops reading (journald or a container runtime stalling, a pipe nobody drains) fills
// the pipe after 64 KiB; a synchronous write then waits for it, and every worker and the primary
// (its /health and /ready with it) stop for as long as the reader does. Here lines wait in a
// bounded buffer and are written when the pipe takes them; past the buffer they are dropped and
// counted, and one line says so once the pipe takes lines again. At exit what is buffered is
// written within a deadline, and what could not be is said on stderr.
import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { TspumaError } from './errors.js';

/** What a stalled stdout may hold before lines are dropped (per process). */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;
/** Linux's atomic pipe write (pipe(7)). */
const PIPE_BUF = 4096;
/** How long the exit flush waits for a stalled stdout before it gives up. */
export const EXIT_FLUSH_MS = 1000;

/** The part of sonic-boom (pino.destination) this module drives. */
export interface SonicBoomLike extends DestinationStream {
  on(event: string, listener: (...args: never[]) => void): unknown;
  flushSync(): void;
  write(data: string): boolean;
}

export interface Stall {
  /** Lines dropped since the buffer filled. */
  lines: number;
  /** Their bytes. */
  bytes: number;
  /** When the first line was dropped (ms, the injected clock). */
  since: number;
}

export interface StdoutOptions {
  /** pino.destination (the bundled copy the logger uses). */
  destination: (opts: Record<string, unknown>) => SonicBoomLike;
  /** Called once the pipe takes lines again after some were dropped. */
  onResumed: (stall: Stall, now: number) => void;
  /** Clock (ms). */
  now?: () => number;
  /** stderr writer for the exit report (tests). */
  writeStderr?: (text: string) => void;
  /** What stdout is (tests). */
  kind?: () => StdoutKind;
  /** Opens stdout's pipe again, non-blocking (tests). */
  reopen?: () => number | null;
}

/** What kind of file stdout is: a pipe or FIFO, a socket, or anything else (a file, a terminal). */
export type StdoutKind = 'pipe' | 'socket' | 'other';
function stdoutKind(): StdoutKind {
  try {
    const st = fstatSync(1);
    return st.isFIFO() ? 'pipe' : st.isSocket() ? 'socket' : 'other';
  } catch {
    return 'other';
  }
}

/**
 * A descriptor of stdout's pipe that is tspuma's own, opened non-blocking: a write to a full pipe
 * then fails with EAGAIN at once and is retried later, instead of waiting in the kernel. Its own,
 * because the flags of fd 1 belong to every process that shares it: libuv makes a spawned child's
 * stdio blocking (each forked worker does it to the primary's stdout), and node puts back, as it
 * exits, the flags it started with. Linux opens a pipe again through /proc; a socket it does not
 * (journald's stdout is one): there fd 1 is written from the threadpool, which keeps the thread that
 * logs free while the reader stalls, though an exit then waits for the reader.
 */
function ownPipe(): number | null {
  try {
    return openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
}

/** Bytes sonic-boom holds that the pipe has not taken yet (its own count). */
function buffered(dest: SonicBoomLike): number {
  return (dest as unknown as { _len?: number })._len ?? 0;
}

export function createStdout(opts: StdoutOptions): SonicBoomLike {
  const now = opts.now ?? Date.now;
  const writeStderr = opts.writeStderr ?? ((text: string) => {
    try {
      writeSync(2, text);
    } catch {
      // stderr gone too: nothing left to tell.
    }
  });
  const fd = (opts.kind ?? stdoutKind)() === 'pipe' ? ((opts.reopen ?? ownPipe)() ?? 1) : 1;
  let exitDeadline = 0;
  let stall: Stall | null = null;
  const dest = opts.destination({
    dest: fd,
    sync: false,
    maxLength: LOG_BUFFER_BYTES,
    // Whole lines per write, at most PIPE_BUF bytes: a pipe takes such a write whole or not at all,
    // so the app's own console.log (written from the main thread while this write runs on the
    // threadpool) can never land inside one of these lines. (sonic-boom joins lines up to maxWrite.)
    maxWrite: PIPE_BUF,
    // While serving, a full pipe is retried (every 100 ms, by sonic-boom's timer); at exit, until
    // the deadline only.
    retryEAGAIN: () => exitDeadline === 0 || now() < exitDeadline,
  });
  dest.on('drop', ((data: string | Buffer) => {
    stall ??= { lines: 0, bytes: 0, since: now() };
    stall.lines++;
    stall.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }) as never);
  // Once the pipe has taken half the buffer back (not at its first partial write, so a reader
  // that drains a little and stalls again gives one line, not one per retry).
  dest.on('write', (() => {
    if (stall === null || buffered(dest) > LOG_BUFFER_BYTES / 2) return;
    const ended = stall;
    stall = null;
    opts.onResumed(ended, now());
  }) as never);
  // pino flushes an asynchronous destination at exit with flushSync, which retries a full pipe
  // for ever: bounded here, and what is left is said.
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    exitDeadline = now() + EXIT_FLUSH_MS;
    try {
      flushSync();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const pending = buffered(dest);
      const dropped = stall === null ? '' : `; ${stall.lines} earlier line(s) were dropped while it stalled`;
      writeStderr(`tspuma: stdout did not take the last ${pending} bytes of log lines within ${EXIT_FLUSH_MS} ms of exit (${code}: its reader stalled); they are lost${dropped}\n`);
    }
  };
  return dest;
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
