// Cluster mode in the primary process: boots the Primary, the control app, the pidfile and the
// state file, and maps signals to stops and restarts.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { appFileOf, resolveAppPath } from '../app-files.js';
import { PUBLIC_FILE_MODE, checkFolderTakesFile, checkTarget, pidfileError as pidfileErrorOf, updatePrivateJson, writeFileSafely, writePrivateFile } from '../private-file.js';
import { TspumaError } from '../errors.js';
import { splitWords } from '../cli/args.js';
import { warnIgnoredOptions } from '../mode-options.js';
import type { Options } from '../options.js';
import { VERSION } from '../version.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import { exposureWarnings, warnExposure } from '../exposure.js';
import { CLUSTER_RUN_ENV, SITE_CLAIMS_ENV } from '../shared-names.js';
import { FORCE_KILL_MS, Primary } from './primary.js';
import { defaultDeps } from './primary-deps.js';
import { onHangup } from '../hangup.js';
import { StopRequests, repeatLine } from '../stop-signals.js';
import type { CheckResult, ReadinessReport } from '../health.js';
import { workersReason, type AppCheckStats } from '../app-checks.js';
import type { Notifier } from '../systemd.js';

const PIDFILE_RULES = { what: 'pidfile', mode: PUBLIC_FILE_MODE } as const;
const STATE_RULES = { what: 'state file (-S)' } as const;

function pidfileError(path: string, options: Options, err: unknown): TspumaError {
  return pidfileErrorOf(path, options.sources.pidfile ?? 'default', err);
}

/** argv without `--control-token TOKEN` / `--control-token=TOKEN`. */
export function withoutControlToken(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--control-token') i++;
    else if (!argv[i]!.startsWith('--control-token=')) out.push(argv[i]!);
  }
  return out;
}

/**
 * Workers never need the control token, and a command line is readable by every user of the
 * machine (ps, /proc/PID/cmdline) and printed in a failed spawn's error: the token is taken off
 * the arguments and environment they are forked with (workers run this CLI with the primary's).
 */
function keepTokenFromWorkers(): void {
  process.argv = [process.argv[0]!, process.argv[1]!, ...withoutControlToken(process.argv.slice(2))];
  delete process.env.TSPUMA_CONTROL_TOKEN;
  const opts = process.env.TSPUMA_OPTS;
  if (opts && opts.includes('--control-token')) process.env.TSPUMA_OPTS = withoutControlToken(splitWords(opts)).map(quoteWord).join(' ');
}

/** A word as splitWords reads it back. */
function quoteWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** How long the stopped primary waits for its workers' last stderr bytes. */
const STDERR_DRAIN_MS = 2000;

export async function runCluster(options: Options, log: Logger, diagnostics: DiagnosticsHook | null = null, notifier: Notifier | null = null): Promise<number> {
  keepTokenFromWorkers();
  // An app file that is not there (a typo) is refused here, with single mode's line, rather than
  // by every worker forked, three times each, behind a --preload hint (N3). An inline app (a
  // function in the config file) has no path to check.
  if (options.app === undefined || typeof options.app === 'string') resolveAppPath(options.app, options.appBase, options.sources.app ?? 'default');
  // Fail fast: a broken app is reported once, before any fork, by a process that loads it and exits
  // (its module loads with --preload only).
  if (options.preload && !(await (await import('./preload-check.js')).preloadCheck(log))) return 1;
  // A pidfile or state file path someone else planted (a symlink, their file) fails the start
  // before any worker is forked; the files themselves are written once the control app is up.
  const pidfile = options.pidfile ? resolve(options.pidfile) : null;
  // Loaded only when there is such a file to check and, at the stop, to remove.
  const own = pidfile || options.state ? await import('../own-files.js') : null;
  if (pidfile) {
    try {
      checkTarget(pidfile, PIDFILE_RULES);
      checkFolderTakesFile(pidfile, PIDFILE_RULES);
    } catch (err) {
      throw pidfileError(pidfile, options, err);
    }
    own!.refuseIfTaken(pidfile, 'pidfile', options.sources.pidfile ?? 'default');
  }
  if (options.state) {
    checkTarget(resolve(options.state), STATE_RULES);
    checkFolderTakesFile(resolve(options.state), STATE_RULES);
    own!.refuseIfTaken(resolve(options.state), 'state file', options.sources.state ?? 'default');
  }
  // Inherited by every worker forked: the run id under which they share the dump folder's sites
  // (with -d: no dumps without). Its machine (and pid namespace) tells a run of another host
  // sharing the folder, whose pid means nothing here, from one of this machine whose primary is
  // gone (dump-budget.ts clearStaleClaims); loaded with -d only, as the claims' module is.
  const machine = options.debug ? `-m${(await import('../process-alive.js')).machineTag()}` : '';
  process.env[CLUSTER_RUN_ENV] = `${process.pid}-${Date.now().toString(36)}${machine}`;
  // DevTools (discovery, live stacks, autopsies) only with --inspect or -d: otherwise no inspector
  // or diagnostics module is loaded in the primary.
  const devtools = options.inspect ? (await import('../../inspector/primary-devtools.js')).primaryDevTools(options, log, diagnostics) : null;
  // With DevTools the workers open inspectors: their stderr comes through the primary, which
  // drops Node's attach lines (worker-stderr.ts, loaded only then).
  const stderr = devtools ? await import('./worker-stderr.js') : null;
  // Probes are set through the control app alone: its registry loads with it (--control-url).
  const probes = options.controlUrl ? new (await import('./probe-registry.js')).ProbeRegistry(log, { max: options.probeMax, expirySeconds: options.probeExpiry, logRate: options.probeLogRate, snapshotRate: options.probeSnapshotRate }, defaultDeps.clock) : null;
  const primary = new Primary(options, log, { ...defaultDeps, devtools, probes, passStderr: stderr?.passWorkerStderr ?? null }, diagnostics);
  void notifier?.status('Booting');
  primary.events = {
    serving: (urls) => {
      // The state file names the binds once they are known (`tspuma replay` sends there).
      if (options.state) addStateUrls(resolve(options.state), urls, log);
      void notifier?.ready(`Serving on ${urls.join(', ')} with ${primary.workerCount} worker(s)`);
    },
    reloading: (what) => void notifier?.reloading(what),
    reloaded: (phase) => void notifier?.ready(`Serving, phase ${phase}, ${primary.workerCount} worker(s)`),
  };
  let draining = false;
  let servedOnce = false;
  void primary.stopped.then(() => (draining = true));
  // Ready only while some worker serves: not once booted forever (a cluster whose only worker
  // died and whose replacement cannot boot must leave the balancer's rotation).
  const appStats = (h: { lastStatus: unknown }) => (h.lastStatus ?? {}) as AppCheckStats;
  // Two check-ins missed (and a second's slack): the worker serves nothing, whatever workerTimeout says.
  const overdueMs = (2 * options.workerCheckInterval + 1) * 1000;
  const readiness = (clusterReadiness: typeof import('../health.js').clusterReadiness): ReadinessReport => {
    const workers = [...primary.current.values(), ...primary.old];
    servedOnce ||= workers.some((h) => h.booted);
    const now = Date.now();
    const views = workers.map((h) => ({ index: h.index, pid: h.pid, booted: h.booted, stopping: h.stopping, exited: h.exited, exitCode: h.exitCode, exitSignal: h.exitSignal, bootError: h.bootError, appReady: appStats(h).app_ready ?? null, ...(h.lastCheckin ? { silentMs: now - h.lastCheckin.getTime() } : {}) }));
    return clusterReadiness(views, draining || primary.stopping, servedOnce, overdueMs);
  };
  // The app's health() as the serving workers report it: unhealthy when every one that reports says so.
  const appCheck = async (kind: 'ready' | 'health'): Promise<CheckResult | null> => {
    if (kind === 'ready') return null; // in readiness() above, per worker
    const reports = [...primary.current.values()].filter((h) => h.booted && !h.exited).map((h) => ({ index: h.index, result: appStats(h).app_health })).filter((r): r is { index: number; result: CheckResult } => r.result !== undefined);
    if (reports.length === 0 || reports.some((r) => r.result.ok)) return null;
    return { ok: false, reason: workersReason(reports.map((r) => ({ index: r.index, reason: r.result.reason ?? 'failed' }))) };
  };
  const requests = new StopRequests();
  // One stop sequence for SIGTERM, SIGINT, a SIGHUP from a closed terminal and `tspuma ctl stop`:
  // /ready 503 and STOPPING=1 at once, the workers serve on for drainDelay, then stop gracefully.
  const stop = (why: string) => {
    const step = requests.next(why);
    if (step.kind === 'repeat') return log.info({ signal: why }, repeatLine(why, step.sinceMs));
    if (step.kind === 'force') {
      log.warn({ signal: why }, `Received ${why} again: forcing the stop (each worker answers the requests it still runs 503, naming each in a TSPUMA_ERR_FORCED_SHUTDOWN line, and exits; one still running ${FORCE_KILL_MS / 1000} s later is killed)`);
      primary.force(`when ${why} came a second time (a forced stop)`);
      return;
    }
    draining = true;
    const delay = options.drainDelay;
    if (delay > 0) {
      void notifier?.stopping(`Draining for ${delay} s, then stopping`);
      log.info({ signal: why, drainDelay: delay }, `Received ${why}: draining (/ready answers 503, workers serve on for drainDelay, ${delay} s), then stopping all workers gracefully`);
      setTimeout(() => void primary.stop(), delay * 1000);
      return;
    }
    void notifier?.stopping('Stopping gracefully');
    log.info({ signal: why }, `Received ${why}, stopping all workers gracefully`);
    void primary.stop();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  onHangup(log, () => stop('SIGHUP'));
  const report = (what: string) => (err: Error) => primary.restartFailed(what, err);
  process.on('SIGUSR1', () => void primary.phasedRestart().catch(report('phased restart')));
  process.on('SIGUSR2', () => void primary.hotRestart().catch(report('hot restart')));
  process.on('SIGTTIN', () => primary.workerCountUp());
  process.on('SIGTTOU', () => primary.workerCountDown());

  warnExposure(log, exposureWarnings(options, { control: true, inspector: true }));
  warnIgnoredOptions(log, options, 'cluster');
  if (devtools && options.inspect) {
    await devtools.start(options.inspect, primary.current);
    void primary.stopped.then(() => devtools.close());
  }
  // Before the workers boot, so a check sees 'booting' rather than a refused connection.
  // Its module (the listener, the readiness rules) loads only when it is served.
  const healthModule = options.healthUrl ? await import('../health.js') : null;
  const health = healthModule && options.healthUrl ? await healthModule.startHealth(options.healthUrl, { readiness: () => readiness(healthModule.clusterReadiness), appCheck }, log) : null;
  void primary.stopped.then(() => health?.server.close());
  // The control app's modules (its routes, the probe endpoints) load only when it is served, as in single mode.
  // Served before the workers are forked: the state file, written before them too, names it.
  const control = options.controlUrl ? await import('../control.js').then(({ serveControl, clusterControlled }) => serveControl(options, clusterControlled(primary), log, () => stop('ctl stop'))) : null;
  if (control) void primary.stopped.then(() => control.close());
  const controlUrl = control?.url ?? null;
  // With -d, where the workers claim dump sites when they write no dump folder (removed below).
  const budget = options.debug ? await import('../../diagnostics/dump-budget.js') : null;
  const claims = budget?.runClaimsFolder() ?? null;
  if (claims) process.env[SITE_CLAIMS_ENV] = claims.dir;
  const files: string[] = [];
  try {
    // The pidfile and state file before any worker is forked: one that cannot be written (EACCES,
    // ENOSPC) fails the start at once, as in single mode, instead of workers booting and serving
    // while the primary stops them (U3).
    if (pidfile) {
      try {
        writeFileSafely(pidfile, `${process.pid}\n`, PIDFILE_RULES);
      } catch (err) {
        throw pidfileError(pidfile, options, err);
      }
      files.push(pidfile);
    }
    if (options.state) {
      // The control token: 0600 even when a file (0644, say) is already there.
      // Without DevTools the state file lists no inspectors; with them it is kept current as workers come and go.
      const inspectors = devtools ? devtools.state() : { app: appFileOf(options.app, options.appBase), inspectors: [] };
      writePrivateFile(resolve(options.state), `${JSON.stringify({ pid: process.pid, control_url: controlUrl, control_auth_token: control?.token ?? null, inspect_url: devtools?.url ?? null, running_from: process.cwd(), urls: primary.urls, ...inspectors }, null, 2)}\n`, STATE_RULES.what);
      files.push(resolve(options.state));
      devtools?.trackState(resolve(options.state));
    }
    await primary.start();
  } catch (err) {
    // Nothing was forked (or a bind failed): cli.ts prints the coded error and exits 1.
    for (const f of files) own?.removeIfOwn(f);
    control?.close();
    health?.server.close();
    await devtools?.close();
    claims?.remove();
    throw err;
  }
  process.title = `tspuma ${VERSION} cluster${options.tag ? ` [${options.tag}]` : ''}`;
  const code = await primary.stopped;
  // The workers' last stderr lines (a dump written as a worker stopped) reach stderr before cli.ts exits.
  await stderr?.workerStderrDrained(STDERR_DRAIN_MS);
  await devtools?.close();
  for (const f of files) own?.removeIfOwn(f);
  claims?.remove();
  // The workers' site claims in the dump folder are this run's, as the folder above is.
  const dumpDir = budget ? (await import('../../diagnostics/index.js')).dumpDirFrom(process.env, options.dumpDir) : null;
  if (budget && dumpDir) budget.releaseRunClaims(resolve(dumpDir), process.env[CLUSTER_RUN_ENV]!);
  // `ctl stop --wait` returns now: workers gone, afterStopped run, files removed; the exit follows.
  await control?.finish(primary.failure ? 1 : code);
  // The primary gave up (no worker could boot): cli.ts prints the coded error and exits 1.
  if (primary.failure) throw primary.failure;
  return code;
}

/** Writes the binds' URLs into a state file already written (not yet: it takes primary.urls then). */
function addStateUrls(file: string, urls: readonly string[], log: Logger): void {
  try {
    updatePrivateJson(file, { urls }, STATE_RULES.what);
  } catch (err) {
    log.warn({ err, file }, `Cannot write the URLs into state file ${file}: ${(err as Error).message}`);
  }
}
