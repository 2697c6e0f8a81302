// The calling thread's own clocks on Linux: the time it ran on a CPU and the time it was runnable
// but waited for one (/proc/thread-self/schedstat's first two fields). They tell a thread that
// computed from one that the machine did not schedule (a busy host, a container's CPU limit) and
// from one that slept (a synchronous call, a debugger's pause). The blocked-loop watch and the
// probes' pause budget read them; off Linux there are none.
import { closeSync, openSync, readSync } from 'node:fs';

/** [ran, waited] in ms, or null. */
export type ThreadFigures = [ran: number, waited: number];

function schedstatReader(): (() => ThreadFigures | null) | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const buf = Buffer.alloc(96);
  const read = (): ThreadFigures | null => {
    try {
      const [ran, waited] = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).split(' ').map(Number);
      return Number.isFinite(ran) && Number.isFinite(waited) ? [ran! / 1e6, waited! / 1e6] : null;
    } catch {
      return null;
    }
  };
  if (read() === null) {
    closeSync(fd);
    return null;
  }
  return read;
}

let reader: (() => ThreadFigures | null) | null | undefined;

/**
 * The figures of the thread that called this first in the process (opened once, by it: the main
 * thread, for both users), or null off Linux.
 */
export function mainThreadFigures(): ThreadFigures | null {
  if (reader === undefined) reader = schedstatReader();
  return reader === null ? null : reader();
}
