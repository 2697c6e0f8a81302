// A promise nobody awaits rejects (a fire-and-forget job): the process keeps serving, single mode
// and a cluster's workers alike (without a listener Node turns it into an uncaught exception). The
// rejection is dumped with -d, and logged: the first of a kind per interval in full, with the
// request whose work started it when -d knows it (without -d, that -d would); repeats counted into one line per interval, so a
// storm (a loop of `void send()` failing alike) costs the log pipeline a line, not a line each.
import type { Logger } from 'pino';
import type { DiagnosticsHook, Reported } from './debug-hook.js';
import { FailureFolder } from './logger.js';
import { thrownMessage } from './error-stand-in.js';

/** The handler for one rejection, and its folder (swept on its own timer; a test sweeps it). */
export function rejectionLogger(log: Logger, diagnostics: () => DiagnosticsHook | null, who: string, folder?: FailureFolder): { handle: (reason: unknown) => void; folder: FailureFolder } {
  const fold = folder ?? new FailureFolder((sample, folded, seconds) => log.error({ folded, seconds }, `${who}${folded} more unhandled promise rejection(s) like "${sample}" in the last ${seconds} s (folded: the first was logged in full)`));
  const handle = (reason: unknown): void => {
    // Dumped first: with -d the dump knows the request whose work started the promise.
    const d = diagnostics();
    const reported = d?.report(reason, { phase: 'app', kind: 'rejection', unhandled: true });
    const message = FailureFolder.kindOf(reason, '', true).slice(1);
    if (!fold.admit(FailureFolder.kindOf(reason, 'rejection'), message)) return;
    // A repeat counted against its site's first dump hands that dump back: its request is not
    // this one's. A repeat whose dump was built for it (`own`) has this one's (review20.1).
    const req = reported && (!reported.repeat || reported.own) ? reported.dump.request : null;
    const request = req ? { id: req.id, method: req.method, url: req.url } : undefined;
    // A repeat names what it repeats (Q9.10: the line had neither): a dump of this process by its
    // number, one another worker wrote by its file (this process's number for it was never shown).
    const of = reported?.repeat ? repeated(reported) : null;
    const work = req ? `work started by ${req.method} ${req.url}, request ${req.id}` : null;
    const started = of
      ? work
        ? ` (${work}; ${of})`
        : reported!.own
          ? ` (${of})` // built for it: no request started it (a timer, module load)
          : reported!.elsewhere
            ? ` (${of}; this one's request is not known)`
            : ` (${of}, whose request was ${reported!.dump.request ? `${reported!.dump.request.method} ${reported!.dump.request.url}` : 'none'}; this one's is not known)`
      : work
        ? ` (${work})`
        : d === null
          ? ' (which request started this work is known with -d)' // review15.4: without -d no request's work is followed
          : '';
    log.error({ err: reason, ...(request ? { request } : {}) }, `${who}Unhandled promise rejection (the server keeps serving): ${thrownMessage(reason)}${started}`);
  };
  return { handle, folder: fold };
}

/** What a repeat's line says it repeats. */
function repeated(r: Reported): string {
  const site = r.dump.site;
  if (r.elsewhere) return `a repeat of the failure at ${site} that another worker dumped${r.path ? `: ${r.path}` : ', printed in full once by that worker'}`;
  if (r.own) return `a repeat of the failure at ${site} dumped before${r.path ? `: ${r.path}` : ' (printed in full above)'}`;
  return `a repeat of dump #${r.dump.id} at ${site}${r.path ? `, ${r.path}` : ''}`;
}

/** Installs the handler, prepended as the uncaught exception's: before an app handler that may exit the process. */
export function keepServingOnRejection(log: Logger, server: { readonly diagnostics: DiagnosticsHook | null }, who: string): void {
  const { handle } = rejectionLogger(log, () => server.diagnostics, who);
  process.prependListener('unhandledRejection', handle);
}
