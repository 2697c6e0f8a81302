// --preload: the app is loaded once before any worker is forked, so a broken app fails once,
// fast. The load runs in a process of its own (this CLI again, with PRELOAD_CHECK_ENV), which
// reports that the import finished and exits: the app's module-level work (a setInterval job, a
// queue poller, an esbuild service) never runs in the primary, and a throw in it cannot end the
// primary. A failed load prints its coded line (and, with -d, its [boot] dump) from that process.
import { fork } from 'node:child_process';
import type { Logger } from 'pino';
import { PRELOAD_CHECK_ENV } from '../shared-names.js';

/** The message the check process sends once the app's import finished. */
export const PRELOADED = { tspuma: 1, type: 'preloaded' } as const;

/** Whether a message is PRELOADED. */
export function isPreloaded(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { tspuma?: unknown }).tspuma === 1 && (m as { type?: unknown }).type === 'preloaded';
}

/**
 * Runs the check: resolves true when the app loaded (logged), false when it did not (its error is
 * on stderr already, from the check process; a line here says what ended that process).
 */
export function preloadCheck(log: Logger): Promise<boolean> {
  const child = fork(process.argv[1]!, process.argv.slice(2), {
    env: { ...process.env, [PRELOAD_CHECK_ENV]: '1' },
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let loaded = false;
  child.on('message', (m) => {
    if (isPreloaded(m)) loaded = true;
  });
  return new Promise((resolve) => {
    child.once('error', (err) => {
      log.error({ err }, `- The preload check could not start: ${err.message}`);
      resolve(false);
    });
    child.once('exit', (code, signal) => {
      if (loaded) {
        log.info({ checkPid: child.pid }, `* Preloaded the app in a check process (PID: ${child.pid}), which then exited; workers load it again (Node cannot share a heap) and the app never runs in the primary`);
        return resolve(true);
      }
      const how = signal ? `killed by ${signal}` : `exit ${code}`;
      log.error({ checkPid: child.pid, code, signal }, `- The app failed the preload check (PID: ${child.pid}, ${how}) before its import finished: its error is above; no worker was forked`);
      resolve(false);
    });
  });
}
