// The control app: a token-guarded HTTP app that hands stats and commands (stop, halt, probes;
// in cluster mode also restarts, worker counts, live stacks) to the server it runs in: the
// cluster's Primary, or single mode's one process. Also its start as both modes do it (the
// token, the boot line).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from 'pino';
import { listen, type BoundServer } from './binder.js';
import type { BindSpec } from './binder-uri.js';
import type { Primary } from './cluster/primary.js';
import type { ProbeRegistry } from './cluster/probe-registry.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { Redactor } from '../diagnostics/redact.js';
import { TspumaError } from './errors.js';
import type { Options } from './options.js';
import { bindUrl } from './binder-uri.js';
import { resolve } from 'node:path';
import { SIDE_LIMITS, Throttle, allowedHost, createSideServer, hostLines, webOrigin } from './side-listener.js';
import { bodyTooLarge, MAX_BODY, probeRoutes } from './probe-routes.js';

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

function tokenOk(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Wrong tokens a client may send within FAILURE_WINDOW_MS before it is refused without a look at its token. */
export const FAILURE_BUDGET = 10;
export const FAILURE_WINDOW_MS = 60_000;

/**
 * Wrong-token attempts per client address: past FAILURE_BUDGET within FAILURE_WINDOW_MS, the
 * client's wrong tokens get 429 until its window ends (guessing a 128-bit token was already
 * hopeless; this keeps the refusals cheap and their log lines few). The right token is always
 * served: on one host every local client is 127.0.0.1, and a process sending a bad token every
 * few seconds must not lock the operator's `tspuma ctl stop` out.
 */
export class FailureBudget {
  private readonly clients = new Map<string, { failures: number; since: number }>();
  constructor(
    private readonly now: () => number = Date.now,
    private readonly budget = FAILURE_BUDGET,
    private readonly windowMs = FAILURE_WINDOW_MS,
  ) {}

  /** Milliseconds until `client` may try again, or 0 when it may now. */
  blockedFor(client: string): number {
    const c = this.clients.get(client);
    if (!c) return 0;
    const left = c.since + this.windowMs - this.now();
    if (left <= 0) {
      this.clients.delete(client);
      return 0;
    }
    return c.failures >= this.budget ? left : 0;
  }

  failed(client: string): number {
    if (this.clients.size >= 4096 && !this.clients.has(client)) this.clients.clear(); // bounded: a flood of addresses starts afresh
    const c = this.clients.get(client) ?? { failures: 0, since: this.now() };
    c.failures++;
    this.clients.set(client, c);
    return c.failures;
  }

  succeeded(client: string): void {
    this.clients.delete(client);
  }
}

/** The commands only a cluster has (restarts, worker counts, a worker's live stack). */
export type ClusterCommands = Pick<Primary, 'hotRestart' | 'phasedRestart' | 'restartRunning' | 'restartFailed' | 'workerCountUp' | 'workerCountDown' | 'workerBooted' | 'workerExited' | 'workerCount' | 'phase' | 'stackOf'>;

/** What the control app steers: the cluster's primary, or single mode's process. */
export interface Controlled {
  readonly diagnostics: DiagnosticsHook | null;
  readonly probes: ProbeRegistry;
  stats(): unknown;
  /** Stops at once, requests in flight cut. */
  halt(): void;
  gc(): void;
  /** null in single mode: its commands answer 409 with TSPUMA_ERR_CONTROL_MODE. */
  readonly cluster: ClusterCommands | null;
}

export function clusterControlled(primary: Primary): Controlled {
  // cluster/run.ts gives a primary whose control app it serves a probe registry.
  if (!primary.probes) throw new Error('a cluster primary served a control app without a probe registry');
  return {
    diagnostics: primary.diagnostics,
    probes: primary.probes,
    stats: () => primary.stats(),
    halt: () => primary.halt(),
    gc: () => {
      for (const h of primary.current.values()) h.send({ tspuma: 1, type: 'gc' });
    },
    cluster: primary,
  };
}

/** Why single mode refuses each cluster command, and what to do instead. */
const SINGLE_MODE_HINTS: Record<string, string> = {
  '/restart': 'Node cannot re-execute a process in place: restart it with its supervisor (systemctl restart, a new pod), or run in cluster mode, whose hot restart replaces every worker',
  '/phased-restart': 'a phased restart replaces workers one at a time, and single mode has none: run in cluster mode (-w N) for restarts without downtime',
  '/worker-count-up': 'single mode has no workers to add: start in cluster mode (-w N)',
  '/worker-count-down': 'single mode has no workers to remove: start in cluster mode (-w N)',
  '/stack': 'a live stack pauses a worker from the primary, and single mode has no other thread to do it from: start with --inspect and run `tspuma inspect stack`',
};

/** Why a request to the control app is refused before its token is looked at, or null. */
function refusal(req: http.IncomingMessage): string | null {
  if (hostLines(req) > 1) return 'the request has more than one Host line (RFC 9112 §3.2)';
  if (!allowedHost(req.headers.host)) return `Host ${JSON.stringify(req.headers.host ?? '')} is not an IP address or localhost (a web page's DNS name pointed at this address)`;
  const origin = webOrigin(req);
  if (origin !== null) return `Origin ${JSON.stringify(origin)} is a web page; the control app takes requests from tspuma ctl and scripts, which send no Origin`;
  return null;
}

/**
 * Starts the control app; every request needs ?token=TOKEN or Authorization: Bearer TOKEN.
 * `stop` is the stop sequence signals get (drainDelay, sd_notify's STOPPING=1); by default the
 * primary's graceful stop.
 */
export async function startControl(spec: BindSpec, token: string, target: Controlled, log: Logger, stop: () => void, budget = new FailureBudget(), redactor = new Redactor()): Promise<BoundServer & { finish(exitCode: number): Promise<void> }> {
  const throttle = new Throttle();
  /**
   * The message a failed command answers with, under the value rules of log lines: it may quote
   * the app's own error (a new worker that could not boot: `cannot connect to
   * postgres://admin:pw@db/x`), and ctl prints it into a deploy's log (review11.1).
   */
  const shown = (err: Error): string => redactor.query(err.message);
  /** `stop` and `halt` with ?wait=1: answered by finish(), when the server is about to exit. */
  const stopWaiters = new Set<http.ServerResponse>();
  /** One line per refused attempt, throttled per client and reason (1st, 10th, 100th...); never the token given. */
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, kind: string, reason: string) => {
    const client = req.socket.remoteAddress ?? 'local';
    const count = throttle.hit(`${client} ${kind}`);
    if (count !== null) {
      const err = new TspumaError('TSPUMA_ERR_CONTROL_REFUSED', { method: req.method, path: (req.url ?? '/').split('?')[0], client, reason });
      log.warn({ code: err.code, remote: client, count, status }, `${err.message}${count > 1 ? ` (${count} times)` : ''}`);
    }
    // The code too, as every refusal of tspuma's says it: `tspuma ctl` prints this answer as it is.
    json(res, status, { error: reason, code: 'TSPUMA_ERR_CONTROL_REFUSED' });
  };
  const server = createSideServer('control app', SIDE_LIMITS.control, log, (req, res) => {
    const client = req.socket.remoteAddress ?? 'local';
    const refused = refusal(req);
    if (refused) return refuse(req, res, 403, 'origin', refused);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) return refuse(req, res, 413, 'body', bodyTooLarge(req, res, `${declared} bytes (Content-Length)`));
    const url = new URL(req.url ?? '/', 'http://control');
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
    if (!tokenOk(url.searchParams.get('token') ?? bearer, token)) {
      const blocked = budget.blockedFor(client);
      if (blocked > 0) {
        res.setHeader('retry-after', String(Math.ceil(blocked / 1000)));
        return refuse(req, res, 429, 'budget', `too many wrong tokens from ${client}; try again in ${Math.ceil(blocked / 1000)} s`);
      }
      const failures = budget.failed(client);
      return refuse(req, res, 403, 'token', `a valid token is required (the query parameter "token", or an Authorization header with a Bearer token); wrong or missing (${failures} of ${FAILURE_BUDGET} allowed per ${FAILURE_WINDOW_MS / 1000} s)`);
    }
    const wait = url.searchParams.get('wait') === '1' || url.searchParams.get('wait') === 'true';
    if (url.pathname === '/probes' || url.pathname.startsWith('/probes/')) return probeRoutes(req, res, url, target.probes);
    switch (url.pathname) {
      case '/stats':
        return json(res, 200, target.stats());
      case '/stop':
      case '/halt':
        if (wait) stopWaiters.add(res);
        else json(res, 200, { message: url.pathname === '/stop' ? 'stopping' : 'halting' });
        return url.pathname === '/stop' ? stop() : target.halt();
      case '/gc': {
        // Workers inherit the primary's execArgv and NODE_OPTIONS: what holds here holds for them.
        const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
        if (!exposed) return json(res, 200, { message: 'gc not run: this server was started without --expose-gc; start it with NODE_OPTIONS=--expose-gc (its workers inherit it)', gc: false });
        target.gc();
        return json(res, 200, { message: 'gc requested', gc: true });
      }
    }
    const cluster = target.cluster;
    if (!cluster) {
      const hint = SINGLE_MODE_HINTS[url.pathname];
      if (!hint) return json(res, 404, { error: `unknown command ${url.pathname}` });
      const err = new TspumaError('TSPUMA_ERR_CONTROL_MODE', { command: url.pathname.slice(1), hint });
      return json(res, 409, { error: err.message, code: err.code });
    }
    const restart = (what: string, run: () => Promise<string[]>) => {
      // One already running: this one is queued (Primary.exclusive) and starts when it ends.
      const queued = cluster.restartRunning;
      const p = run();
      // The server's log says how a restart ended however it was asked for (a deploy's
      // `ctl phased-restart --wait` too: the journal is where a rollback is looked for later).
      const failed = (err: Error) => cluster.restartFailed(what, err);
      if (!wait) {
        p.catch(failed);
        return json(res, 202, { message: queued ? 'queued' : 'started' });
      }
      p.then(
        (problems) => {
          if (problems.length === 0) return json(res, 200, { message: 'done', phase: cluster.phase });
          // Finished, with a worker of the new phase that failed to boot (rolled forward, it respawns
          // with backoff): not what a deploy's --wait should read as done (review21.3).
          const err = new TspumaError('TSPUMA_ERR_CONTROL_WAIT', { command: url.pathname.slice(1), problem: `the ${what} to phase ${cluster.phase} finished, but ${problems.join('; ')}` });
          return json(res, 500, { error: shown(err), code: err.code, phase: cluster.phase });
        },
        // Coded (TSPUMA_ERR_RESTART_BOOT, TSPUMA_ERR_RESTART_STOPPING): ctl's output and a script tell a rollback from a stop.
        (err: Error) => {
          failed(err);
          json(res, 500, { error: shown(err), ...(err instanceof TspumaError ? { code: err.code } : {}) });
        },
      );
    };
    switch (url.pathname) {
      case '/restart':
        return restart('hot restart', () => cluster.hotRestart());
      case '/phased-restart':
        return restart('phased restart', () => cluster.phasedRestart());
      case '/worker-count-up': {
        const index = cluster.workerCountUp();
        if (!wait) return json(res, 200, { workers: cluster.workerCount });
        return void cluster.workerBooted(index).then(
          () => json(res, 200, { workers: cluster.workerCount, booted_worker: index }), // its index: `booted: 2` read as a count (U9.8)
          (err: TspumaError) => json(res, 500, { error: shown(err), code: err.code }),
        );
      }
      case '/worker-count-down': {
        const h = cluster.workerCountDown();
        if (!h) {
          // Nothing done: not a 200, so `ctl worker-count-down` exits 1 (its help's promise).
          const err = new TspumaError('TSPUMA_ERR_WORKER_COUNT_MIN', { workers: cluster.workerCount });
          return json(res, err.status!, { workers: cluster.workerCount, code: err.code, error: err.message });
        }
        if (!wait) return json(res, 200, { workers: cluster.workerCount });
        return void cluster.workerExited(h).then(
          () => json(res, 200, { workers: cluster.workerCount, exited_worker: h.index }),
          (err: TspumaError) => json(res, 500, { error: shown(err), code: err.code }),
        );
      }
      case '/stack': {
        const worker = Number(url.searchParams.get('worker') ?? '0');
        if (!Number.isInteger(worker) || worker < 0) return json(res, 400, { error: `worker must be a worker index; got ${JSON.stringify(url.searchParams.get('worker'))}` });
        cluster.stackOf(worker).then(
          (dump) => json(res, 200, dump),
          (err: TspumaError | Error) => json(res, 'code' in err && err.code === 'TSPUMA_ERR_INSPECT_TARGET' ? 404 : 504, { error: shown(err), code: 'code' in err ? err.code : null }),
        );
        return;
      }
      default:
        return json(res, 404, { error: `unknown command ${url.pathname}` });
    }
  });
  const bound = await listen(spec, server, log, target.diagnostics);
  return {
    ...bound,
    // The answer is written before the process exits (bounded: a client that stopped reading).
    finish: async (exitCode) => {
      const written = [...stopWaiters].map((res) => new Promise<void>((resolve) => {
        res.once('finish', resolve);
        res.once('close', resolve);
        json(res, 200, { message: 'stopped', exitCode, pid: process.pid });
      }));
      stopWaiters.clear();
      await Promise.race([Promise.all(written), new Promise((r) => setTimeout(r, FINISH_MS).unref())]);
    },
  };
}

/** How long finish() waits for the answers to `stop --wait` to be written. */
const FINISH_MS = 2000;

export interface ServedControl {
  /** tcp://HOST:PORT (the port the kernel gave) or unix://PATH, as the state file gives it. */
  readonly url: string;
  readonly token: string;
  /** Stops listening; requests waiting for the stop (`stop --wait`) stay open until finish(). */
  close(): void;
  /** The server is about to exit with `exitCode`: answers `stop`/`halt` with ?wait=1. */
  finish(exitCode: number): Promise<void>;
}

/**
 * Starts the control app when --control-url is set (else null) with the configured token or a
 * random one, and logs where it listens; the token itself never goes into a log line.
 */
export async function serveControl(options: Pick<Options, 'controlUrl' | 'controlToken' | 'state' | 'redact'>, target: Controlled, log: Logger, stop: () => void): Promise<ServedControl | null> {
  const spec = options.controlUrl;
  if (!spec) return null;
  const token = options.controlToken ?? newToken();
  const control = await startControl(spec, token, target, log, stop, new FailureBudget(), new Redactor(options.redact));
  const url = spec.scheme === 'unix' ? bindUrl(spec) : `tcp://${spec.host}:${control.port}`;
  // The token is the one the user configured, or a random one written only to the 0600 state file.
  const where = options.controlToken ? 'configured' : options.state ? `random, in the state file ${resolve(options.state)}` : 'random and written nowhere: pass -S FILE or set TSPUMA_CONTROL_TOKEN to use it';
  log.info({ controlUrl: url, token: where }, `* Control app on ${url} (token ${where})`);
  return { url, token, close: () => control.server.close(), finish: control.finish };
}
