// The primary watch's duty in the side thread (primary-watch.ts, ../side-thread.ts): reads the
// parent pid every second; once it is not the primary's, gives the main thread `graceMs` to stop by itself, then writes one log line (a
// pino-shaped JSON line on stdout, where the worker's log goes) and kills the process. A main
// thread that has not run at all for STALL_MS since (its heartbeat still: paused in a debugger, or
// a loop that never yields) cannot stop by itself and holds the port meanwhile: it is killed then,
// without waiting out the grace. It runs no JavaScript of the main thread's, so a main thread held
// paused or stuck cannot keep it from acting.
import { writeSync } from 'node:fs';
import { PARENT_CHECK_MS, STALL_MS, type WatchThreadData } from './primary-watch.js';

export function runDuty({ primaryPid, index, graceMs, heartbeat }: WatchThreadData): () => void {
  const beats = new Int32Array(heartbeat);
  let goneAt = 0;
  let lastBeat = Atomics.load(beats, 0);
  let lastBeatAt = Date.now();

  const timer = setInterval(() => {
    const now = Date.now();
    const beat = Atomics.load(beats, 0);
    if (beat !== lastBeat) {
      lastBeat = beat;
      lastBeatAt = now;
    }
    const parent = process.ppid;
    if (parent === primaryPid) return;
    goneAt ||= now;
    // Still since the primary went (or since before): it cannot stop by itself.
    const stalled = now - Math.max(lastBeatAt, goneAt) >= STALL_MS;
    if (!stalled && now - goneAt < graceMs) return;
    const why = stalled
      ? `its main thread has not run for ${Math.round((now - Math.max(lastBeatAt, goneAt)) / 1000)} s since (paused in a debugger, or a loop that does not yield), so it cannot stop by itself and would hold the port`
      : `the worker did not exit within ${Math.round(graceMs / 1000)} s (its main thread is paused in a debugger or does not yield)`;
    const msg = `- Worker ${index} (PID: ${process.pid}) killed by its primary watch: its primary (PID: ${primaryPid}) is gone (its parent process is now PID ${parent}) and ${why}`;
    try {
      writeSync(1, `${JSON.stringify({ level: 50, time: Date.now(), pid: process.pid, worker: index, msg })}\n`);
    } catch {
      /* stdout closed: the kill below must happen */
    }
    process.kill(process.pid, 'SIGKILL');
  }, PARENT_CHECK_MS);
  return () => clearInterval(timer);
}
