// Runs the user's lifecycle hooks in order; a throwing hook goes to the log (and, in debug mode,
// to the diagnostics hook) with the hook's name.
import type { Logger } from 'pino';
import type { Hook } from './app-types.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { TspumaError } from './errors.js';

/** Where hook failures go (a Server and a Primary are both). */
export interface HookReporting {
  readonly log: Logger;
  readonly diagnostics: DiagnosticsHook | null;
}

/** Runs hooks in order. A throw is logged with the hook's name; with rethrow it also propagates. */
export async function runHooks(name: string, hooks: readonly Hook[], to: HookReporting, args: unknown[] = [], opts: { rethrow?: boolean } = {}): Promise<void> {
  const { log, diagnostics } = to;
  for (const hook of hooks) {
    log.debug({ hook: name }, `running hook ${name}`);
    diagnostics?.enter('hook');
    try {
      await hook(...args);
    } catch (err) {
      const coded = new TspumaError('TSPUMA_ERR_HOOK', { hook: name, message: (err as Error)?.message ?? String(err) }, { cause: err });
      log.error({ err, code: coded.code, hook: name }, coded.message);
      diagnostics?.report(err, { phase: 'hook', context: { hook: name } });
      if (opts.rethrow) throw coded;
    } finally {
      diagnostics?.leave();
    }
  }
}
