// SIGHUP, for single mode and a cluster primary alike (a module of its own: the primary needs it
// without single mode's Server and request handling).
import type { Logger } from 'pino';

/**
 * SIGHUP as Puma treats it without stdout_redirect: the terminal the server was started from went
 * away, so stop as for SIGINT. That holds while the output goes to a terminal; with the output
 * redirected (a file, a pipe, the journal: `nohup tspuma > log &`), a hangup says nothing about
 * the server, and it is logged and ignored (there is no log file to reopen).
 */
export function onHangup(log: Logger, stop: () => void, stdoutIsTerminal = process.stdout.isTTY === true): void {
  process.on('SIGHUP', hangupHandler(log, stop, stdoutIsTerminal));
}

/** What onHangup installs, as a function (single mode hands it SIGHUP through its signals' owner). */
export function hangupHandler(log: Logger, stop: () => void, stdoutIsTerminal = process.stdout.isTTY === true): () => void {
  return () => {
    if (stdoutIsTerminal) return stop();
    log.info({ signal: 'SIGHUP' }, 'Received SIGHUP: ignored, the output is redirected (not a terminal that hung up) and there is no log file to reopen');
  };
}
