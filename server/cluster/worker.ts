// A cluster worker process: boots one Server on its copies of the primary's sockets, checks in with its
// stats, and stops when told to, when the primary goes away or after an uncaught exception.
import { getHeapStatistics } from 'node:v8';
import { exitWatchServing } from '../app-exit.js';
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { LoadedApp } from '../app-loader.js';
import { appLoadWarnings, loadApp, tsLoaderInUse } from '../app-loader.js';
import type { DiagnosticsHook, Reported } from '../debug-hook.js';
import { runHooks } from '../hooks.js';
import { runCheck, runShutdownHook, type AppCheckStats, type AppHooks } from '../app-checks.js';
import type { Options } from '../options.js';
import { openTelemetry } from '../otel.js';
import { Server } from '../server.js';
import { UNCAUGHT_GRACE_S, guardInspectorSignal, uncaughtGraceEnded } from '../single.js';
import { keepServingOnRejection } from '../rejections.js';
import { CLUSTER_RUN_ENV, WORKER_BOOT_FAILURES_ENV, WORKER_PHASE_ENV, kDumped } from '../shared-names.js';
import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './messages.js';
import { probeHost } from '../probe-host.js';
import { AppCalls } from '../app-calls.js';
import { startupPhase } from '../errors.js';
import { takeWorkerBinds, withWorkerBinds } from './listeners.js';
import { startWatchThread, watchPrimary } from './primary-watch.js';
import { realClock } from './clock.js';
import { stopAccepting } from '../node-http.js';
import { settleShortly } from '../loop-block.js';
import { clientWorkTold } from '../own-work.js';

const LINGER_MS = 1000;
/** After workerShutdownTimeout's 503s, how long an orphaned worker's last answers get before it exits. */
const FORCED_EXIT_MS = 1000;
/** The watch thread kills a worker still running this long after workerShutdownTimeout (the main thread exits at +FORCED_EXIT_MS). */
const WATCH_THREAD_SLACK_S = 4;
const UNCAUGHT = 'uncaught exception';

function send(message: WorkerMessage): void {
  // A failed write (the primary just died: EPIPE) comes to the callback, not as an 'error' event:
  // the closed channel is the watch's to report.
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
}

/**
 * Probes (server/probe-host.ts) are loaded with the first one the primary sends, never before.
 * Listening starts before the app loads, and the hello asks the primary for every probe already
 * set (a respawned or restarted worker).
 */
function listenForProbes(options: Options, log: Logger, index: number, appCalls: AppCalls): () => Promise<void> {
  const host = probeHost(options, log, index, appCalls, send);
  process.on('message', (m: unknown) => {
    if (isPrimaryMessage(m)) host.handle(m);
  });
  send({ tspuma: 1, type: 'probe-hello', index });
  return () => host.close();
}

/** Boots the worker; resolves with the exit code once it has stopped. */
export async function runWorker(options: Options, baseLog: Logger, index: number, diagnostics: DiagnosticsHook | null = null): Promise<number> {
  const log = baseLog.child({ worker: index });
  // The primary's sockets, before the app loads (its children never see the variable).
  const kept = takeWorkerBinds(process.env);
  if (kept) {
    const binds = withWorkerBinds(options, kept);
    options = binds.options;
    if (binds.added.length > 0 || binds.removed.length > 0) {
      const changes = [binds.added.length > 0 ? `added: ${binds.added.join(', ')}` : '', binds.removed.length > 0 ? `removed: ${binds.removed.join(', ')}` : ''].filter(Boolean).join('; ');
      log.warn({ added: binds.added, removed: binds.removed }, `The config's binds changed since the primary started (${changes}); this worker serves the primary's binds, which it holds for its whole life: stop and start tspuma to change them`);
    }
  }
  const reporting = { log, diagnostics };
  process.title = `tspuma worker ${index}${options.tag ? ` [${options.tag}]` : ''}`;
  guardInspectorSignal(log, `restarts are the primary's to run: send SIGUSR1 to the primary (PID ${process.ppid})`);
  // node:cluster exits a worker the moment its primary disconnects, cutting its requests in flight;
  // marking the disconnect as expected keeps it alive for the graceful stop below.
  cluster.worker?.on('disconnect', () => {
    if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  });
  // From here on the worker exits when its primary goes away, whatever it is doing: while it boots
  // at once (nothing is in flight), once serving after a graceful stop (onPrimaryGone, below).
  let doing: string | null = 'booting';
  // The primary's pid from the run id it forked this worker with: the parent may already be init.
  const primaryPid = Number(/^(\d+)-/.exec(process.env[CLUSTER_RUN_ENV] ?? '')?.[1]) || process.ppid;
  /** Why the primary went away, when it did after this worker's server listened and before its stop was ready. */
  let goneEarly: string | null = null;
  let onPrimaryGone = (why: string) => {
    if (doing === null) {
      goneEarly = why;
      return;
    }
    log.warn({ why }, `- Worker ${index} (PID: ${process.pid}) exiting: its primary (PID: ${primaryPid}) is gone (${why}) while it was ${doing}`);
    process.exit(1);
  };
  // Called at once when the primary is already gone (it died as this worker started).
  watchPrimary((why) => onPrimaryGone(why), process, realClock, primaryPid);
  // A stop the primary sends before this worker serves (a stop, a worker-count-down or a restart
  // during its boot) found no listener: the worker booted, served, and was killed at
  // workerShutdownTimeout. While it boots it exits at once (nothing is in flight); once it listens,
  // the stop waits for the graceful stop below to be set up.
  let stopAsked = false;
  const earlyStop = (m: unknown) => {
    if (!isPrimaryMessage(m) || m.type !== 'stop') return;
    if (doing === null) {
      stopAsked = true;
      return;
    }
    log.info(`- Worker ${index} (PID: ${process.pid}) stopping: told to stop by the primary while it was ${doing}; exiting now (no request was in flight)`);
    process.exit(0);
  };
  process.on('message', earlyStop);
  const appCalls = new AppCalls();
  const closeProbes = listenForProbes(options, log, index, appCalls);
  // The inspector's module only with --inspect (or -d): with debug off a worker loads none.
  const inspector = options.inspect ? await import('../../inspector/open.js') : null;
  if (inspector && options.inspect) {
    // Open before boot, so a worker stuck booting can be attached too.
    // During a restart the worker this one replaces still holds its port: it moves there once that one exits.
    const moved = { onMoved: (url: string) => send({ tspuma: 1, type: 'inspector', index, url }) } as const;
    const url = inspector.openInspector(options.inspect, { kind: 'worker', index }, log, undefined, undefined, moved);
    if (url) send({ tspuma: 1, type: 'inspector', index, url });
    // A DevTools client can hold this main thread paused: a thread makes sure it exits anyway.
    startWatchThread({ primaryPid: primaryPid, index, graceMs: (options.workerShutdownTimeout + WATCH_THREAD_SLACK_S) * 1000 });
  }
  let loaded: LoadedApp;
  let server: Server;
  try {
    doing = 'running its beforeWorkerBoot hooks';
    await runHooks('beforeWorkerBoot', options.beforeWorkerBoot, reporting, [index], { rethrow: true });
    doing = 'loading the app';
    loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
    doing = 'booting';
    if (index === 0) for (const w of appLoadWarnings(loaded)) log.warn({ code: w.code }, `${w.code}: ${w.message}`);
    server = new Server(options, loaded.adapted, log, { diagnostics, appCalls, tracing: await openTelemetry(options.appBase, diagnostics ? (req) => diagnostics.capturedThrow(req) : undefined), loopSettle: inspector ? settleShortly : undefined });
    const served = server;
    appCalls.observe({ context: diagnostics ? () => diagnostics.currentRequest() : null, inApp: () => served.requestsInApp() });
    server.ownsSockets = false;
    if (options.balanceBusyWorkers) server.balanceWhenBusy();
    if (options.outOfBand.length > 0) server.onOutOfBand = () => runHooks('outOfBand', options.outOfBand, reporting, [index]);
    await server.bind();
    // Listening: from now on a gone primary gets the graceful stop, set up below.
    doing = null;
    inspector?.exposeInFlight(() => server.inFlight());
  } catch (err) {
    const e = err as { code?: unknown; message?: string };
    // With -d, the worker's own dump of why it did not boot (the app's import error, with the
    // values captured at its throw): the primary only gets the message. The respawns of a crash
    // loop fail alike: only boots before any failure dump.
    try {
      // A listen error is already dumped where it was made (binder.ts); anything else stopped the boot.
      const first = (process.env[WORKER_BOOT_FAILURES_ENV] ?? '0') === '0';
      if (first && !(err as { [kDumped]?: boolean } | null)?.[kDumped]) diagnostics?.report(err, { phase: startupPhase(err) === 'listen' ? 'listen' : 'boot' });
    } catch {
      /* the boot-failed message below still goes out */
    }
    send({ tspuma: 1, type: 'boot-failed', index, code: typeof e?.code === 'string' ? e.code : null, message: e?.message ?? String(err) });
    log.error({ err }, `Worker ${index} failed to boot: ${e?.message ?? String(err)}`);
    return 1;
  }
  log.info(`- Worker ${index} (PID: ${process.pid}) booted, phase ${process.env[WORKER_PHASE_ENV] ?? 0}`);
  exitWatchServing(() => server.inFlight());
  diagnostics?.serving?.();
  const ts = tsLoaderInUse();
  send({ tspuma: 1, type: 'booted', index, urls: server.boundServers.map((b) => b.url), ...(ts ? { tsLoader: { kind: ts.choice.kind, text: ts.text } } : {}) });
  // The app's ready()/health() results go with the check-ins (the primary answers /ready and
  // /health for the cluster); they are run every second and a change is reported at once.
  const appStats: AppCheckStats = {};
  // Each check-in carries the oldest requests in the app and the memory, so the primary can say
  // what a worker was doing (and how full its heap was) when it has to kill it or it dies.
  // The rss is read from /proc/self/stat: with no free descriptor (a connection flood, a leak)
  // that read throws EMFILE, which out of this timer stopped the worker as an "uncaught
  // exception" (U7). The last figure read stands in until a descriptor is free again.
  let rss: number | undefined;
  const checkin = () => {
    const heap = getHeapStatistics();
    try {
      rss = process.memoryUsage.rss();
    } catch {
      /* out of descriptors: the last rss read */
    }
    const memory = { ...(rss !== undefined ? { rss_bytes: rss } : {}), heap_used_bytes: heap.used_heap_size, heap_limit_bytes: heap.heap_size_limit };
    send({ tspuma: 1, type: 'checkin', index, stats: { ...server.stats(), in_flight: server.inFlight().slice(0, 3), ...memory, ...appStats } });
  };
  server.deadlines.onAppEntry = checkin;
  const appChecks = await startAppChecks(loaded.hooks, options.healthCheckTimeout * 1000, appStats, checkin);
  checkin();
  const timer = setInterval(checkin, options.workerCheckInterval * 1000);

  /** The dump of the uncaught exception that ends this worker, once reported. */
  let crash: Reported | null = null;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      appChecks.stop();
      log.info({ why }, `- Worker ${index} (PID: ${process.pid}) stopping: ${why}`);
      await runHooks('beforeWorkerShutdown', options.beforeWorkerShutdown, reporting, [index]);
      // Keep-alive clients get a moment to send their next request (answered with
      // Connection: close) so a restart under load fails none.
      await server.shutdown({ lingerMs: LINGER_MS });
      await runShutdownHook(loaded.hooks, options.shutdownHookTimeout * 1000, log);
      await closeProbes();
      if (why === UNCAUGHT) log.fatal(`- Worker ${index} (PID: ${process.pid}) stopped because of an uncaught exception (exit code 1; ${whereDumped(diagnostics !== null, crash)}); the primary starts a replacement`);
      inspector?.closeInspector();
      resolve(0);
    };
    process.on('message', (m: unknown) => {
      if (!isPrimaryMessage(m)) return;
      const message: PrimaryMessage = m;
      switch (message.type) {
        case 'stop':
          void stop('told to stop by the primary');
          break;
        case 'force':
          // As single mode's second signal: what is still running is answered 503 and named in a
          // line; the graceful stop under way then ends, and the worker exits for sure soon after.
          void stop('told to stop by the primary');
          server.force(message.when);
          setTimeout(() => process.exit(1), FORCED_EXIT_MS);
          break;
        case 'gc':
          (globalThis as { gc?: () => void }).gc?.();
          break;
        case 'client-work':
          clientWorkTold(message.work);
          break;
        case 'shed':
          server.shedConnections(message.count);
          break;
        case 'probe-set':
        case 'probe-rm':
        case 'probe-flush':
          break; // listenForProbes's
        default: {
          const never: never = message;
          log.warn({ message: never }, 'unknown message from the primary');
        }
      }
    });
    process.off('message', earlyStop);
    if (stopAsked) void stop('told to stop by the primary');
    keepServingOnRejection(log, server, `Worker ${index} (PID: ${process.pid}): `);
    // As in single mode: logged, dumped (written before anything else, so a dying worker's dump
    // is on disk), then a graceful stop with exit code 1; the primary respawns the worker.
    process.prependListener('uncaughtException', (err) => {
      log.fatal({ err }, `Worker ${index} (PID: ${process.pid}) uncaught exception, stopping: ${err?.message ?? String(err)}`);
      try {
        crash = diagnostics?.report(err, { phase: 'app', inFlight: server.inFlight(), final: true }) ?? null;
      } catch {
        /* the stop below must happen */
      }
      process.exitCode = 1;
      void stop(UNCAUGHT);
      // As in single mode: requests in flight get a bounded grace, then 503.
      setTimeout(() => server.force(uncaughtGraceEnded(options.forceShutdownAfter)), Math.min(UNCAUGHT_GRACE_S, options.forceShutdownAfter) * 1000).unref();
    });
    // The primary is gone: the listening copies close first (no new connection waits on a worker
    // that is leaving), requests in flight finish (up to workerShutdownTimeout, the budget the
    // primary would have given), then the worker exits for sure (ref'd timers): no orphans.
    onPrimaryGone = (why) => {
      const inFlight = server.inFlight().length;
      log.warn({ why, inFlight }, `- Worker ${index} (PID: ${process.pid}) exiting: its primary (PID: ${primaryPid}) is gone (${why}); it stops accepting and finishes its ${inFlight} request(s) in flight within workerShutdownTimeout (${options.workerShutdownTimeout} s)`);
      for (const b of server.boundServers) stopAccepting(b.server, () => undefined);
      void stop('the primary went away');
      setTimeout(() => {
        log.warn({ seconds: options.workerShutdownTimeout }, `- Worker ${index} (PID: ${process.pid}): requests still in flight ${options.workerShutdownTimeout} s (workerShutdownTimeout) after the primary went away; answering them 503 and exiting`);
        server.force(`${options.workerShutdownTimeout} s (workerShutdownTimeout) after the primary went away`);
        setTimeout(() => process.exit(1), FORCED_EXIT_MS);
      }, options.workerShutdownTimeout * 1000);
    };
    if (goneEarly !== null) onPrimaryGone(goneEarly);
    process.on('SIGTERM', () => void stop('SIGTERM'));
    // Ctrl-C reaches the whole process group; the primary decides what happens.
    process.on('SIGINT', () => undefined);
    // A closed terminal hangs up the whole process group: the primary decides (hangup.ts onHangup, from cluster/run.ts).
    process.on('SIGHUP', () => undefined);
  });
}

/** Runs the app's ready() and health() every second into `stats`, calling `changed` when a result changes. */
async function startAppChecks(hooks: AppHooks, timeoutMs: number, stats: AppCheckStats, changed: () => void): Promise<{ stop(): void }> {
  if (!hooks.ready && !hooks.health) return { stop: () => {} };
  const key = (r: { ok: boolean; reason?: string } | undefined) => (r ? `${r.ok}${r.reason ?? ''}` : '');
  let running = false;
  const round = async () => {
    if (running) return;
    running = true;
    try {
      const before = key(stats.app_ready) + key(stats.app_health);
      if (hooks.ready) stats.app_ready = await runCheck('ready', hooks.ready, timeoutMs);
      if (hooks.health) stats.app_health = await runCheck('health', hooks.health, timeoutMs);
      if (key(stats.app_ready) + key(stats.app_health) !== before) changed();
    } finally {
      running = false;
    }
  };
  await round();
  const timer = setInterval(() => void round(), 1000);
  return { stop: () => clearInterval(timer) };
}

/**
 * Where the stop line after an uncaught exception sends the reader for its dump. A final report
 * (the failure that ends the process) is a repeat only when another worker of the cluster dumped
 * its site first (diagnostics/sinks.ts emit(): one this worker printed gets a dump of its own), and
 * that worker printed it, not this one (review10 part 2).
 */
export function whereDumped(debug: boolean, crash: Pick<Reported, 'repeat' | 'path' | 'dump'> | null): string {
  if (!debug) return 'its dump, with -d, is above';
  if (!crash) return 'no dump of it was made: the dump itself failed';
  if (!crash.repeat) return 'its dump is above';
  return `a repeat of the failure at ${crash.dump.site} that another worker of this cluster dumped: ${crash.path ? crash.path : 'printed in full once, by that worker'}`;
}
