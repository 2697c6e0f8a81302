// The primary watch's thread (primary-watch.ts): reads the parent pid every second; once it is not
// the primary's, gives the main thread `graceMs` to stop by itself, then writes one log line (a
// pino-shaped JSON line on stdout, where the worker's log goes) and kills the process. It runs no
// JavaScript of the main thread's, so a main thread held paused by a debugger or stuck in a loop
// cannot keep it from acting.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { PARENT_CHECK_MS, type WatchThreadData } from './primary-watch.js';

const { primaryPid, index, graceMs } = workerData as WatchThreadData;
let goneAt = 0;

setInterval(() => {
  const parent = process.ppid;
  if (parent === primaryPid) return;
  goneAt ||= Date.now();
  if (Date.now() - goneAt < graceMs) return;
  const msg = `- Worker ${index} (PID: ${process.pid}) killed by its primary watch: its primary (PID: ${primaryPid}) is gone (its parent process is now PID ${parent}) and the worker did not exit within ${Math.round(graceMs / 1000)} s (its main thread is paused in a debugger or does not yield)`;
  try {
    writeSync(1, `${JSON.stringify({ level: 50, time: Date.now(), pid: process.pid, worker: index, msg })}\n`);
  } catch {
    /* stdout closed: the kill below must happen */
  }
  process.kill(process.pid, 'SIGKILL');
}, PARENT_CHECK_MS);
