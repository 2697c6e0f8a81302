// Health and readiness checks on their own socket (the `healthUrl` option), answered by tspuma
// outside the app and its invocation slots, without a token: /health while the process runs,
// /ready while something serves (booted, not draining, and in cluster mode some worker alive),
// each with the reason when it fails, and the app's own `ready()`/`health()` checks (app-checks.ts)
// after tspuma's.
import type { Logger } from 'pino';
import type { BindSpec } from './binder-uri.js';
import { listen, type BoundServer } from './binder.js';
import { SIDE_LIMITS, createSideServer } from './side-listener.js';

/** Where the server is in its life, as /ready reports it. */
export type Readiness = 'booting' | 'ready' | 'draining' | 'unavailable';

/** /ready's answer: the status, and why when it is not `ready`. */
export interface ReadinessReport {
  readonly status: Readiness;
  readonly reason?: string;
}

/** What the app's own check said: ok, or not with its reason. */
export interface CheckResult {
  readonly ok: boolean;
  readonly reason?: string;
}

export interface HealthState {
  readiness(): ReadinessReport;
  /** The app's checks, asked only when tspuma's own answer is a success. */
  appCheck?: (kind: 'ready' | 'health') => Promise<CheckResult | null>;
}

type Answer = { status: number; body: Record<string, unknown>; allow?: string };

/** The answer to one health request: status and JSON body. */
export async function healthAnswer(method: string | undefined, path: string, state: HealthState): Promise<Answer> {
  if (path !== '/health' && path !== '/ready') return { status: 404, body: { error: 'not found: GET /health or /ready' } };
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { error: 'only GET and HEAD' }, allow: 'GET, HEAD' };
  if (path === '/health') {
    const app = (await state.appCheck?.('health')) ?? null;
    if (app && !app.ok) return { status: 503, body: { status: 'unhealthy', pid: process.pid, reason: app.reason } };
    return { status: 200, body: { status: 'alive', pid: process.pid } };
  }
  const report = state.readiness();
  if (report.status !== 'ready') return { status: 503, body: { status: report.status, ...(report.reason ? { reason: report.reason } : {}) } };
  const app = (await state.appCheck?.('ready')) ?? null;
  if (app && !app.ok) return { status: 503, body: { status: 'unavailable', reason: app.reason } };
  return { status: 200, body: { status: 'ready' } };
}

/** Listens on `spec` (the healthUrl option) and answers health checks; the server is closed by the caller at exit. */
export async function startHealth(spec: BindSpec, state: HealthState, log: Logger): Promise<BoundServer> {
  // tspuma's header deadline, an idle timeout (1 s: a check must not keep a stopping process
  // alive) and a connection cap: a client holding idle connections here cannot take the
  // descriptors the primary needs to fork workers.
  const server = createSideServer('health checks', SIDE_LIMITS.health, log, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    void healthAnswer(req.method, path, state)
      .catch((err: unknown): Answer => ({ status: 500, body: { status: 'error', reason: (err as Error)?.message ?? String(err) } }))
      .then((answer) => {
        const body = `${JSON.stringify(answer.body)}\n`;
        res.writeHead(answer.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
          ...(answer.allow ? { allow: answer.allow } : {}),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
  });
  const bound = await listen(spec, server, log);
  log.info({ healthUrl: bound.url }, `* Health checks on ${bound.url} (GET /health, /ready)`);
  return bound;
}

/** The part of a cluster worker's record readiness reads (cluster/worker-handle.ts). */
export interface WorkerView {
  readonly index: number;
  readonly pid: number;
  readonly booted: boolean;
  readonly stopping: boolean;
  readonly exited: boolean;
  readonly exitCode?: number | null;
  readonly exitSignal?: string | null;
  readonly bootError?: { message: string } | null;
  /** The app's ready() as the worker last reported it (app-checks.ts), when the app has one. */
  readonly appReady?: CheckResult | null;
  /** Milliseconds since the worker last checked in (booted workers). */
  readonly silentMs?: number;
}

/** A worker's check-in this overdue: it is not serving (its event loop is blocked, or paused in a debugger). */
function overdue(w: WorkerView, overdueMs: number | undefined): boolean {
  return overdueMs !== undefined && w.silentMs !== undefined && w.silentMs > overdueMs;
}

/**
 * A cluster is ready while at least one worker has booted, is neither stopping nor gone, and has
 * checked in within `overdueMs` (a worker whose event loop is blocked serves nothing, long before
 * workerTimeout kills it); the reason otherwise names each worker's state, so a balancer's log
 * says why an instance is out.
 */
export function clusterReadiness(workers: Iterable<WorkerView>, draining: boolean, everBooted: boolean, overdueMs?: number): ReadinessReport {
  if (draining) return { status: 'draining', reason: 'the server is stopping' };
  const list = [...workers].sort((a, b) => a.index - b.index);
  if (list.some((w) => w.booted && !w.stopping && !w.exited && w.appReady?.ok !== false && !overdue(w, overdueMs))) return { status: 'ready' };
  const states = list.map((w) => {
    if (w.exited) return `worker ${w.index} died (${w.exitSignal ?? `exit ${w.exitCode ?? '?'}`})`;
    if (w.stopping) return `worker ${w.index} is stopping`;
    if (w.booted && overdue(w, overdueMs)) return `worker ${w.index} has not checked in for ${(w.silentMs! / 1000).toFixed(1)} s (its event loop is blocked or paused)`;
    if (w.booted && w.appReady?.ok === false) return `worker ${w.index}: ${w.appReady.reason ?? "the app's ready() failed"}`;
    return `worker ${w.index} is booting (PID ${w.pid})${w.bootError ? `, last boot failed: ${w.bootError.message}` : ''}`;
  });
  const reason = `no worker serves: ${states.join('; ') || 'no worker running'}`;
  return { status: everBooted ? 'unavailable' : 'booting', reason };
}
