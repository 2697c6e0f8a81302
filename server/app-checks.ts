// The app's own readiness, health and shutdown hooks, as lightship and terminus offer them: the
// app module exports `ready()`, `health()` and `shutdown()` (or has them on its default-exported
// object). A check that returns false, throws, rejects or outlasts healthCheckTimeout fails, with
// the reason /ready or /health answers; shutdown() runs once the server stopped serving, bounded
// by shutdownHookTimeout. In cluster mode each worker runs its app's checks and reports them with
// its check-ins (AppCheckStats), and the primary answers for them.
import type { Logger } from 'pino';
import { TspumaError, showValue } from './errors.js';
import type { CheckResult } from './health.js';
import { Redactor } from '../diagnostics/redact.js';

// /health and /ready answer without a token, so a check's message is redacted like a log line
// (URL userinfo, secret query pairs, credentials by shape) before it can reach a client.
const redactor = new Redactor(null);

export interface AppHooks {
  readonly ready?: () => unknown;
  readonly health?: () => unknown;
  readonly shutdown?: () => unknown;
}

export const APP_HOOK_NAMES = ['ready', 'health', 'shutdown'] as const;

/** The app's hooks from its module's named exports or its default-exported object; a non-function is refused. */
export function appHooks(mod: Record<string, unknown>, exported: unknown, where: string): AppHooks {
  const out: Record<string, () => unknown> = {};
  for (const name of APP_HOOK_NAMES) {
    const value = mod[name] ?? (exported !== null && typeof exported === 'object' ? (exported as Record<string, unknown>)[name] : undefined);
    if (value === undefined) continue;
    if (typeof value !== 'function') throw new TspumaError('TSPUMA_ERR_APP_HANDLER', { path: where, name, got: showValue(value), expected: 'a function (sync or async) with no arguments' });
    out[name] = value as () => unknown;
  }
  return out;
}

/** Runs one check within `timeoutMs`: true or undefined pass; false, a throw, a rejection or the timeout fail. */
export async function runCheck(name: 'ready' | 'health', check: () => unknown, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `the app's ${name}() did not settle within ${timeoutMs / 1000} s (healthCheckTimeout)` }), timeoutMs);
    timer.unref();
  });
  const run = (async (): Promise<CheckResult> => {
    try {
      const value = await check();
      if (value === false) return { ok: false, reason: `the app's ${name}() returned false` };
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `the app's ${name}() failed: ${redactor.query(String((err as Error)?.message ?? err))}` };
    }
  })();
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the app's shutdown() once, within `timeoutMs`; a failure or the timeout is logged, never thrown. */
export async function runShutdownHook(hooks: AppHooks, timeoutMs: number, log: Logger): Promise<void> {
  if (!hooks.shutdown) return;
  const shutdown = hooks.shutdown;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    (async () => {
      try {
        await shutdown();
        return 'done' as const;
      } catch (err) {
        log.error({ err }, `The app's shutdown() failed: ${(err as Error)?.message ?? String(err)}`);
        return 'failed' as const;
      }
    })(),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') log.warn(`The app's shutdown() did not finish within ${timeoutMs / 1000} s (shutdownHookTimeout); stopping without it`);
}

/** What a cluster worker adds to its check-in stats: its app's last check results. */
export interface AppCheckStats {
  app_ready?: CheckResult;
  app_health?: CheckResult;
}

/**
 * One reason for the cluster's /health from its workers' failed checks: each distinct reason once,
 * with the workers that gave it (`workers 0, 1: the app's health() failed: …`).
 */
export function workersReason(reports: readonly { index: number; reason: string }[]): string {
  const byReason = new Map<string, number[]>();
  for (const r of reports) {
    const list = byReason.get(r.reason);
    if (list) list.push(r.index);
    else byReason.set(r.reason, [r.index]);
  }
  return [...byReason].map(([reason, indexes]) => `${indexes.length === 1 ? 'worker' : 'workers'} ${indexes.sort((a, b) => a - b).join(', ')}: ${reason}`).join('; ');
}
