// Called by single.ts, cluster/primary.ts and cluster/worker.ts at each lifecycle point; runs
// the user's hooks in order and hands a throwing hook to the log (and the diagnostics layer).
import type { Logger } from 'pino';
import type { Hook } from './app-types.js';
import { diagnostics } from './debug-hook.js';
import { TspumaError } from './errors.js';

/** Runs hooks in order. A throw is logged with the hook's name; with rethrow it also propagates. */
export async function runHooks(name: string, hooks: readonly Hook[], log: Logger, args: unknown[] = [], opts: { rethrow?: boolean } = {}): Promise<void> {
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
