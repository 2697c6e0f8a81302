// Single mode: boots one Server, prints Puma's boot lines, writes the pidfile and state file,
// runs the boot and stop hooks, and (when it owns the process) turns signals into a graceful stop
// and serves the control app (--control-url: stats, stop, halt, probes) from the same process.
import { refuseIfTaken, removeIfOwn } from './own-files.js';
import { PUBLIC_FILE_MODE, pidfileError, writeFileSafely, writePrivateFile } from './private-file.js';
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import { appLoadWarnings, tsLoaderInUse, type LoadedApp } from './app-loader.js';
import type { BoundServer } from './binder.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { exposureWarnings, warnExposure } from './exposure.js';
import { runHooks } from './hooks.js';
import { TspumaError } from './errors.js';
import type { Options } from './options.js';
import { openTelemetry } from './otel.js';
import { Server } from './server.js';
import { VERSION } from './version.js';
import type { InspectorSetup } from '../inspector/setup.js';
import type { HealthState, Readiness } from './health.js';
import { runCheck, runShutdownHook } from './app-checks.js';
import type { Notifier } from './systemd.js';
import type { PrimaryMessage, WorkerMessage } from './cluster/messages.js';
import { AppCalls } from './app-calls.js';
import { exitWatchServing } from './app-exit.js';
import { warnIgnoredOptions } from './mode-options.js';
import { keepServingOnRejection } from './rejections.js';
import { hangupHandler } from './hangup.js';
import { StopSignalOwner } from './stop-signal-owner.js';
import { StopRequests, repeatLine } from './stop-signals.js';
import { settleShortly } from './loop-block.js';
import { clientWorkTold } from './own-work.js';
import { exposeInFlight } from './shared-names.js';
import type { ServedControl } from './control.js';
import type { ProbeHost } from './probe-host.js';
import type { ProbeRegistry } from './cluster/probe-registry.js';

export interface Running {
  readonly server: Server;
  /** The bound servers (one per bind) with the ports the kernel gave; `listeners` is the exported name. */
  readonly listeners: readonly BoundServer[];
  /** Graceful stop; resolves after afterStopped hooks ran. */
  stop(): Promise<void>;
  /** Settles when the server has stopped, with the exit code it chose. */
  readonly stopped: Promise<number>;
}

export interface SingleOptions {
  /** Install SIGTERM/SIGINT/SIGHUP handlers and exit the process at the end (the CLI does). */
  readonly ownProcess?: boolean;
  /** With ownProcess: the process's stop signals' owner since its first boot line (the CLI's); without one, single mode makes its own. */
  readonly signals?: StopSignalOwner;
  /** Debug mode's hook (null: debug off). */
  readonly diagnostics?: DiagnosticsHook | null;
  /** sd_notify (READY, STATUS, WATCHDOG, STOPPING); absent or disabled: nothing is sent. */
  readonly notifier?: Notifier | null;
  /** singleBootLines() already ran (the CLI prints them before the app loads). */
  readonly announced?: boolean;
}

/** Single mode's first boot lines, which need no app: the CLI prints them before importing it. */
export function singleBootLines(options: Options, log: Logger): void {
  const { threads } = options;
  log.info(`tspuma ${VERSION} starting in single mode...`);
  log.info(`* Node version: ${process.version}, tspuma version: ${VERSION}`);
  log.info(`*  Min threads: ${threads.min}`);
  log.info(`*  Max threads: ${threads.max}`);
  log.info(`*  Environment: ${options.environment}`);
  log.info(`*          PID: ${process.pid}`);
}

/**
 * Imports, before the app loads, the modules runSingle imports lazily for these options: the
 * inspector's with --inspect (or -d), the control app's and probes' with --control-url. Once a .ts
 * app's loader is registered, every later import is resolved and loaded through its module-hooks
 * thread, which costs about 2 ms of CPU a module more (issue 31); a plain boot still loads none of them.
 * The health listener's with --health-url, too.
 */
export async function loadSingleModules(options: Options): Promise<void> {
  await Promise.all([options.inspect ? inspectorModules() : null, options.controlUrl ? controlModules() : null, options.healthUrl ? healthModule() : null]);
}

/** What runSingle imports for the inspector (--inspect, -d), loaded early by loadSingleModules. */
const inspectorModules = () => Promise.all([import('../inspector/setup.js'), import('../inspector/open.js')]);
/** The health and readiness listener (--health-url), loaded early by loadSingleModules; a boot without one never loads it. */
const healthModule = () => import('./health.js');
/** What runSingle imports for the control app and its probes (--control-url), loaded early by loadSingleModules. */
const controlModules = () => Promise.all([import('./control.js'), import('./cluster/probe-registry.js'), import('./probe-host.js')]);

/** Idle keep-alive connections get this long at stop to send one more request (answered with Connection: close). */
export const STOP_LINGER_MS = 1000;

/** Boots single mode. Rejects with a coded error if a bind fails (nothing is left listening). */
export async function runSingle(options: Options, loaded: LoadedApp, log: Logger, opts: SingleOptions = {}): Promise<Running> {
  if (!opts.announced) singleBootLines(options, log);
  if (loaded.file) log.info(`*          App: ${loaded.file} (${loaded.adapted.kind})`);
  for (const w of appLoadWarnings(loaded)) log.warn({ code: w.code }, `${w.code}: ${w.message}`);
  const ts = tsLoaderInUse();
  if (ts) log.info({ tsLoader: ts.choice.kind }, `*   TypeScript: ${ts.text}`);
  warnExposure(log, exposureWarnings(options, { control: opts.ownProcess === true, inspector: opts.ownProcess === true }));
  warnIgnoredOptions(log, options, opts.ownProcess ? 'single' : 'embedded');
  // With a control app, probes can be set: each app call can then record its request (off until one is).
  const appCalls = opts.ownProcess && options.controlUrl ? new AppCalls() : null;

  let stopping: Promise<void> | null = null;
  let booted = false;
  /** The binds listen: a request may be in the app already. */
  let listening = false;
  /** A stop signal came once the binds listened, before the boot ended: the stop runs when it does. */
  let stopWhenBooted = false;
  let readiness: Readiness = 'booting';
  const notifier = opts.notifier ?? null;
  void notifier?.status('Booting');
  /** Stopping because of an uncaught exception: the last line says so. */
  let uncaught = false;
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  const server = new Server(options, loaded.adapted, log, {
    diagnostics: opts.diagnostics ?? null,
    appCalls,
    tracing: await openTelemetry(options.appBase, opts.diagnostics ? (req) => opts.diagnostics!.capturedThrow(req) : undefined),
    onIdle: () => {
      log.info(`No request for idleTimeout (${options.idleTimeout} s); stopping`);
      void stop();
    },
    // Discovery's thread says what a DevTools client had the thread do (own-work.ts), heard after the block.
    loopSettle: options.inspect && opts.ownProcess ? settleShortly : undefined,
  });

  appCalls?.observe({ context: opts.diagnostics ? () => opts.diagnostics!.currentRequest() : null, inApp: () => server.requestsInApp() });
  if (options.outOfBand.length > 0) server.onOutOfBand = () => runHooks('outOfBand', options.outOfBand, { log, diagnostics: opts.diagnostics ?? null });

  // Installed before binding, so a signal during boot is not the default (an abrupt death).
  if (opts.ownProcess) {
    const stopOrExit = (why?: 'uncaught') => {
      if (why === 'uncaught') uncaught = true;
      if (booted) return stop();
      // Requests accepted since the binds listened finish, as in any graceful stop (review14.4:
      // an exit here cut them); before that, nothing was accepted and the exit loses nothing.
      if (listening && why !== 'uncaught') {
        stopWhenBooted = true;
        log.info('Signal received while booting: stopping gracefully once the boot ends (requests already accepted finish)');
        return;
      }
      log.info('Signal received while booting: exiting before serving');
      process.exit(why === 'uncaught' ? 1 : 0);
    };
    installSignals(server, opts.signals ?? new StopSignalOwner(() => undefined), stopOrExit, log);
  }
  try {
    await server.bind();
  } catch (err) {
    for (const b of server.boundServers) b.server.close();
    server.deadlines.stop();
    throw err;
  }
  listening = true;
  for (const b of server.boundServers) log.info({ url: b.url, port: b.port }, `* Listening on ${b.url}`);
  const healthState: HealthState = {
    readiness: () => ({ status: readiness, ...(readiness === 'draining' ? { reason: 'the server is stopping' } : {}) }),
    appCheck: async (kind) => (loaded.hooks[kind] ? runCheck(kind, loaded.hooks[kind]!, options.healthCheckTimeout * 1000) : null),
  };
  const health = options.healthUrl ? await (await healthModule()).startHealth(options.healthUrl, healthState, log) : null;

  const pidfile = options.pidfile ? (isAbsolute(options.pidfile) ? options.pidfile : resolve(options.pidfile)) : null;
  if (pidfile) {
    try {
      refuseIfTaken(pidfile, 'pidfile', options.sources.pidfile ?? 'default');
      writeFileSafely(pidfile, `${process.pid}\n`, { what: 'pidfile', mode: PUBLIC_FILE_MODE });
    } catch (err) {
      await server.shutdown();
      if (err instanceof TspumaError && err.code === 'TSPUMA_ERR_FILE_IN_USE') throw err;
      throw pidfileError(pidfile, options.sources.pidfile ?? 'default', err);
    }
  }
  let inspectorSetup: InspectorSetup | null = null;
  if (options.inspect && opts.ownProcess) {
    // Loaded only with --inspect: node:inspector and node:worker_threads stay out of a plain boot.
    const [{ startInspector }] = await inspectorModules();
    inspectorSetup = await startInspector(options.inspect, { kind: 'single' }, () => [], log, null, (pid, work) => pid === process.pid && clientWorkTold(work));
  }
  // An autopsy reads them through the inspector; -d's heap-limit line reads them at V8's OOM pause.
  if (opts.ownProcess && (inspectorSetup || opts.diagnostics)) exposeInFlight(() => server.inFlight());
  let control: { served: ServedControl; probes: ProbeRegistry; host: ProbeHost } | null = null;
  if (appCalls) {
    try {
      control = await startSingleControl(options, server, appCalls, log, opts.diagnostics ?? null, () => void stop(), () => halt());
    } catch (err) {
      await server.shutdown();
      throw err;
    }
  }
  // The state file (-S): where `tspuma ctl`, `probe` and `inspect` run in this directory find this server.
  const stateFile = options.state && opts.ownProcess ? resolve(options.state) : null;
  if (stateFile) {
    // setup.js is loaded already when the inspector is on; a plain boot does not load it.
    const inspectors = inspectorSetup ? (await import('../inspector/setup.js')).inspectorState(inspectorSetup, [], loaded.file).inspectors : [];
    const state = { pid: process.pid, control_url: control?.served.url ?? null, control_auth_token: control?.served.token ?? null, inspect_url: inspectorSetup?.url ?? null, running_from: process.cwd(), urls: server.boundServers.map((b) => b.url), app: loaded.file, inspectors };
    try {
      refuseIfTaken(stateFile, 'state file', options.sources.state ?? 'default');
      writePrivateFile(stateFile, `${JSON.stringify(state, null, 2)}\n`, 'state file (-S)');
    } catch (err) {
      control?.served.close();
      await server.shutdown();
      throw err;
    }
  }
  const urls = server.boundServers.map((b) => b.url).join(', ');
  if (opts.ownProcess) process.title = `tspuma ${VERSION} (${urls})${options.tag ? ` [${options.tag}]` : ''}`;

  async function stop(): Promise<void> {
    if (stopping) return stopping;
    readiness = 'draining';
    stopping = (async () => {
      const delay = options.drainDelay;
      if (delay > 0) {
        void notifier?.stopping(`Draining for ${delay} s, then stopping`);
        log.info({ drainDelay: delay }, `- Draining: /ready answers 503, serving on for drainDelay (${delay} s)`);
        await new Promise((r) => setTimeout(r, delay * 1000));
      } else void notifier?.stopping('Stopping gracefully');
      log.info('- Gracefully stopping, waiting for requests to finish');
      // Idle keep-alive clients get a moment to send their next request (answered with
      // Connection: close): closing under a client that is sending would fail its request.
      await server.shutdown({ lingerMs: opts.ownProcess ? STOP_LINGER_MS : 0 });
      await runShutdownHook(loaded.hooks, options.shutdownHookTimeout * 1000, log);
      health?.server.close();
      await inspectorSetup?.close();
      await closeControl();
      removeFiles();
      await runHooks('afterStopped', options.afterStopped, server);
      opts.diagnostics?.reportCost();
      if (uncaught) log.fatal(UNCAUGHT_LAST_LINE);
      else log.info('- Goodbye!');
      // `ctl stop --wait` returns now: requests finished, afterStopped run, files removed.
      await control?.served.finish(uncaught ? 1 : 0);
      resolveStopped(0);
    })();
    return stopping;
  }

  function removeFiles(): void {
    for (const file of [pidfile, stateFile]) if (file) removeIfOwn(file);
  }

  async function closeControl(): Promise<void> {
    if (!control) return;
    control.served.close();
    control.probes.close();
    // The probe engine's resumer thread and session go before the process exits.
    await control.host.close();
  }

  /** `tspuma ctl halt`: exits at once, requests in flight cut; the pidfile and state file go. */
  function halt(): void {
    log.warn('- Halting (tspuma ctl halt): exiting now, requests in flight are cut');
    removeFiles();
    // After this turn, so the control app's answer (`halt --wait`'s too) is written first.
    void (control?.served.finish(0) ?? Promise.resolve()).then(() => setImmediate(() => process.exit(0)));
  }

  booted = true;
  if (stopWhenBooted) {
    void stop();
    return { server, listeners: server.boundServers, stop, stopped };
  }
  readiness = 'ready';
  opts.diagnostics?.serving?.();
  if (opts.ownProcess) exitWatchServing(() => server.inFlight());
  void notifier?.ready(`Serving on ${urls}`);
  await runHooks('afterBooted', options.afterBooted, server);
  log.info({ urls: server.boundServers.map((b) => b.url) }, 'Use Ctrl-C to stop');
  return { server, listeners: server.boundServers, stop, stopped };
}

/**
 * The control app of a single-mode server, and the probes it sets: a probe registry whose one
 * "worker" is this process (index 0), handing messages to this process's probe host and back
 * (each on a later turn, as they would cross a worker's IPC channel).
 */
async function startSingleControl(options: Options, server: Server, appCalls: AppCalls, log: Logger, diagnostics: DiagnosticsHook | null, stop: () => void, halt: () => void): Promise<{ served: ServedControl; probes: ProbeRegistry; host: ProbeHost } | null> {
  const [{ serveControl }, { ProbeRegistry }, { probeHost }] = await controlModules();
  const probes = new ProbeRegistry(log, { max: options.probeMax, expirySeconds: options.probeExpiry, logRate: options.probeLogRate, snapshotRate: options.probeSnapshotRate });
  const self = { index: 0, pid: process.pid, send: (m: PrimaryMessage) => host.handle(m) };
  const host = probeHost(options, log, 0, appCalls, (m: WorkerMessage) => setImmediate(() => probes.onMessage(self, m)));
  probes.hello(self);
  const served = await serveControl(options, {
    diagnostics,
    probes,
    stats: () => ({ mode: 'single', ...server.stats(), versions: { tspuma: VERSION, node: process.version } }),
    halt,
    gc: () => (globalThis as { gc?: () => void }).gc?.(),
    cluster: null,
  }, log, stop);
  if (!served) {
    probes.close();
    return null;
  }
  return { served, probes, host };
}

/** After an uncaught exception, requests in flight get at most this long (or forceShutdownAfter, if shorter). */
export const UNCAUGHT_GRACE_S = 5;

/** What ran out for a request still running when a stop after an uncaught exception forced it. */
export function uncaughtGraceEnded(forceShutdownAfter: number): string {
  const s = Math.min(UNCAUGHT_GRACE_S, forceShutdownAfter);
  return s < UNCAUGHT_GRACE_S
    ? `when forceShutdownAfter (${s} s) expired` // the stop's own words: its timer and this one end together
    : `${s} s after the uncaught exception (the most a stop after one waits)`;
}

/** The last line of a single-mode server stopped by an uncaught exception. */
export const UNCAUGHT_LAST_LINE =
  '- Stopped because of an uncaught exception (exit code 1; its dump, with -d, is above). Nothing restarts a single-mode server: run it under a supervisor, or in cluster mode (-w N), whose primary replaces a worker that stops this way.';

/**
 * SIGUSR1 is the one signal node acts on by itself: it opens an inspector on 127.0.0.1:9229,
 * with no token, to whoever can connect there. A listener keeps node from doing so; the signal is
 * logged instead (`--inspect` opens tspuma's own inspectors on purpose). Single mode and workers.
 */
export function guardInspectorSignal(log: Logger, what: string): void {
  process.on('SIGUSR1', () => log.warn({ signal: 'SIGUSR1' }, `SIGUSR1 received and ignored: ${what}. Node's inspector is not opened by a signal under tspuma (use --inspect).`));
}

function installSignals(server: Server, signals: StopSignalOwner, stop: (why?: 'uncaught') => Promise<void> | void, log: Logger): void {
  const requests = new StopRequests();
  const graceful = (signal: NodeJS.Signals) => {
    const step = requests.next(signal);
    if (step.kind === 'first') {
      log.info({ signal }, `Received ${signal}, stopping gracefully (send it again to force)`);
      void stop();
      return;
    }
    if (step.kind === 'repeat') return log.info({ signal }, repeatLine(signal, step.sinceMs));
    log.warn({ signal }, `Received ${signal} again: forcing shutdown`);
    server.force(`when ${signal} came a second time (a forced stop)`);
    setTimeout(() => process.exit(1), 1000).unref();
  };
  // Taken for good: the process exits at the end of this stop.
  const hangup = hangupHandler(log, () => graceful('SIGHUP'));
  signals.take((signal) => (signal === 'SIGHUP' ? hangup() : graceful(signal)));
  for (const signal of ['SIGUSR2', 'SIGTTIN', 'SIGTTOU'] as const) {
    process.on(signal, () => log.warn({ signal }, `${signal} is ignored: restarts and worker counts need cluster mode (-w N)`));
  }
  guardInspectorSignal(log, 'a phased restart needs cluster mode (-w N); in single mode, restart the process');
  keepServingOnRejection(log, server, '');
  // Node's convention: an uncaught exception stops the process (the state of the app is unknown).
  // The dump is written first, synchronously, with the requests still in the app; then the
  // requests in flight finish (graceful stop) and the process exits 1. Prepended: an app's own
  // handler added at import ("log and process.exit(1)") runs after the line and the dump.
  process.prependListener('uncaughtException', (err) => {
    log.fatal({ err }, `Uncaught exception, stopping: ${(err as Error | null)?.message ?? String(err)}`);
    try {
      server.diagnostics?.report(err, { phase: 'app', inFlight: server.inFlight(), final: true });
    } catch {
      /* the stop below must happen */
    }
    process.exitCode = 1;
    void stop('uncaught');
    // Requests still in the app get a bounded grace (the app's state is unknown), then 503.
    setTimeout(() => server.force(uncaughtGraceEnded(server.options.forceShutdownAfter)), Math.min(UNCAUGHT_GRACE_S, server.options.forceShutdownAfter) * 1000).unref();
  });
}
