// While the app's module loads (single mode, a --preload check): a line before the import, a
// warning every LOADING_WARN_S seconds while it has not finished (a top-level await on a database
// or service that does not answer leaves the import pending for good, and a server that prints
// nothing looks wedged), and a stop signal meanwhile ends the process with a line saying so
// instead of Node's silent default. The signals are taken from the process's owner of them
// (stop-signal-owner.ts) and given back to it when the import settles.
import { relative } from 'node:path';
import type { Logger } from 'pino';
import type { StopSignal, StopSignalOwner } from './stop-signal-owner.js';

/** Seconds between the "still loading" warnings. */
export const LOADING_WARN_S = 10;

/** The app's file as the lines show it: relative to the working folder when inside it. */
function shownFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * Logs `* Loading app FILE` and watches the import until the returned function is called (when
 * the import settled, either way); a stop signal meanwhile exits 0 with a line naming the file.
 */
export function watchLoading(log: Logger, file: string, signals: StopSignalOwner, opts: { everyS?: number; what?: string } = {}): () => void {
  const shown = shownFile(file);
  const what = opts.what ?? 'the app';
  const everyS = opts.everyS ?? LOADING_WARN_S;
  const since = performance.now();
  const seconds = () => Math.round((performance.now() - since) / 1000);
  const timer = setInterval(() => {
    log.warn({ app: file, seconds: seconds() }, `Still loading ${what} ${shown} after ${seconds()} s: its import has not finished (a top-level await that does not settle, such as a connect to a database or service that does not answer?). Nothing is served until it does.`);
  }, everyS * 1000);
  timer.unref();
  const onSignal = (signal: StopSignal) => {
    log.info({ signal, seconds: seconds() }, `Received ${signal} while ${what} ${shown} was loading (for ${seconds()} s; its import had not finished): exiting before serving`);
    process.exit(0);
  };
  const giveBack = signals.take(onSignal);
  // After taking them: whoever signals on seeing this line (a supervisor, a test) must find this
  // watch's handler there.
  log.info({ app: file }, `* Loading ${what} ${shown} ...`);
  return () => {
    clearInterval(timer);
    giveBack();
  };
}
