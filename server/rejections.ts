// A promise nobody awaits rejects (a fire-and-forget job): the process keeps serving, single mode
// and a cluster's workers alike (without a listener Node turns it into an uncaught exception). The
// rejection is dumped with -d, and logged: the first of a kind per interval in full, with the
// request whose work started it when -d knows it (without -d, that -d would); repeats counted into one line per interval, so a
// storm (a loop of `void send()` failing alike) costs the log pipeline a line, not a line each.
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook.js';
import { FailureFolder } from './logger.js';
import { thrownMessage } from './error-stand-in.js';

/** The handler for one rejection, and its folder (swept on its own timer; a test sweeps it). */
export function rejectionLogger(log: Logger, diagnostics: () => DiagnosticsHook | null, who: string, folder?: FailureFolder): { handle: (reason: unknown) => void; folder: FailureFolder } {
  const fold = folder ?? new FailureFolder((sample, folded, seconds) => log.error({ folded, seconds }, `${who}${folded} more unhandled promise rejection(s) like "${sample}" in the last ${seconds} s (folded: the first was logged in full)`));
  const handle = (reason: unknown): void => {
    // Dumped first: with -d the dump knows the request whose work started the promise.
    const d = diagnostics();
    const reported = d?.report(reason, { phase: 'app', kind: 'rejection' });
    const message = FailureFolder.kindOf(reason, '', true).slice(1);
    if (!fold.admit(FailureFolder.kindOf(reason, 'rejection'), message)) return;
    // A repeat of a dumped site hands back the first dump: its request is not this one's.
    const req = reported && !reported.repeat ? reported.dump.request : null;
    const request = req ? { id: req.id, method: req.method, url: req.url } : undefined;
    // A repeat names the dump it was counted against instead (Q9.10: the line had neither).
    const first = reported?.repeat ? reported.dump : null;
    const started = req
      ? ` (work started by ${req.method} ${req.url}, request ${req.id})`
      : first
        ? ` (a repeat of dump #${first.id} at ${first.site}${reported!.path ? `, ${reported!.path}` : ''}, whose request was ${first.request ? `${first.request.method} ${first.request.url}` : 'none'}; this one's is not known)`
        : d === null
          ? ' (which request started this work is known with -d)' // review15.4: without -d no request's work is followed
          : '';
    log.error({ err: reason, ...(request ? { request } : {}) }, `${who}Unhandled promise rejection (the server keeps serving): ${thrownMessage(reason)}${started}`);
  };
  return { handle, folder: fold };
}

/** Installs the handler, prepended as the uncaught exception's: before an app handler that may exit the process. */
export function keepServingOnRejection(log: Logger, server: { readonly diagnostics: DiagnosticsHook | null }, who: string): void {
  const { handle } = rejectionLogger(log, () => server.diagnostics, who);
  process.prependListener('unhandledRejection', handle);
}
