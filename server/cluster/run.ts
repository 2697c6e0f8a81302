// Cluster mode in the primary process: boots the Primary, the control app, the pidfile and the
// state file, and maps signals to stops and restarts.
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadApp } from '../app-loader.js';
import { PUBLIC_FILE_MODE, checkTarget, writeFileSafely, writePrivateFile } from '../private-file.js';
import { TspumaError } from '../errors.js';
import { bindUrl } from '../binder-uri.js';
import { newToken, startControl } from '../control.js';
import type { Options } from '../options.js';
import { VERSION } from '../version.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import { exposureWarnings, warnExposure } from '../exposure.js';
import { deliveryFor, standaloneSinks } from '../../diagnostics/index.js';
import { inspectorState, startInspector } from '../../inspector/setup.js';
import { CLUSTER_RUN_ENV } from '../shared-names.js';
import { Primary } from './primary.js';
import { splitWords } from '../cli/args.js';
import { startHealth, type Readiness } from '../health.js';
import type { Notifier } from '../systemd.js';

const PIDFILE_RULES = { what: 'pidfile', mode: PUBLIC_FILE_MODE } as const;
const STATE_RULES = { what: 'state file (-S)' } as const;

function pidfileError(path: string, options: Options, err: unknown): TspumaError {
  return new TspumaError('TSPUMA_ERR_PIDFILE', { path, source: options.sources.pidfile ?? 'default', message: (err as Error).message }, { cause: err });
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

export async function runCluster(options: Options, log: Logger, diagnostics: DiagnosticsHook | null = null, notifier: Notifier | null = null): Promise<number> {
  if (options.preload) {
    // Fail fast: a broken app is reported once, by the primary, before any fork.
    await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
    log.info('* Preloaded the app in the primary (workers load it again: Node cannot share a heap)');
  }
  keepTokenFromWorkers();
  // A pidfile or state file path someone else planted (a symlink, their file) fails the start
  // before any worker is forked; the files themselves are written once the control app is up.
  const pidfile = options.pidfile ? resolve(options.pidfile) : null;
  if (pidfile) {
    try {
      checkTarget(pidfile, PIDFILE_RULES);
    } catch (err) {
      throw pidfileError(pidfile, options, err);
    }
  }
  if (options.state) checkTarget(resolve(options.state), STATE_RULES);
  // Inherited by every worker forked: the run id under which they share the dump folder's sites.
  process.env[CLUSTER_RUN_ENV] = `${process.pid}-${Date.now().toString(36)}`;
  const primary = new Primary(options, log, undefined, diagnostics);
  void notifier?.status('Booting');
  primary.events = notifier && {
    serving: (urls) => void notifier.ready(`Serving on ${urls.join(', ')} with ${primary.workerCount} worker(s)`),
    reloading: (what) => void notifier.reloading(what),
    reloaded: (phase) => void notifier.ready(`Serving, phase ${phase}, ${primary.workerCount} worker(s)`),
  };
  let draining = false;
  let servedOnce = false;
  void primary.stopped.then(() => (draining = true));
  const readiness = (): Readiness => {
    if (draining || primary.stopping) return 'draining';
    servedOnce ||= [...primary.current.values()].some((h) => h.booted);
    return servedOnce ? 'ready' : 'booting';
  };
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, `Received ${signal} again: halting`);
      primary.halt();
      return;
    }
    draining = true;
    const delay = options.drainDelay;
    if (delay > 0) {
      void notifier?.stopping(`Draining for ${delay} s, then stopping`);
      log.info({ signal, drainDelay: delay }, `Received ${signal}: draining (/ready answers 503, workers serve on for drainDelay, ${delay} s), then stopping all workers gracefully`);
      setTimeout(() => void primary.stop(), delay * 1000);
      return;
    }
    void notifier?.stopping('Stopping gracefully');
    log.info({ signal }, `Received ${signal}, stopping all workers gracefully`);
    void primary.stop();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const report = (what: string) => (err: Error) => log.error({ err }, `${what} failed: ${err.message}`);
  process.on('SIGUSR1', () => void primary.phasedRestart().catch(report('phased restart')));
  process.on('SIGUSR2', () => void primary.hotRestart().catch(report('hot restart')));
  process.on('SIGTTIN', () => primary.workerCountUp());
  process.on('SIGTTOU', () => primary.workerCountDown());
  process.on('SIGHUP', () => log.info('SIGHUP: logs go to stdout, there is no log file to reopen'));

  warnExposure(log, exposureWarnings(options, { control: true, inspector: true }));
  if (options.inspect) {
    primary.inspector = await startInspector(options.inspect, { kind: 'primary' }, () => primary.targets(), log);
    const sinks = diagnostics ? null : standaloneSinks(process.env, options.dumpDir, deliveryFor(options.onDump, log));
    primary.emitDump = (dump) => (diagnostics ? diagnostics.emit(dump) : sinks!.emit(dump)).path;
    void primary.stopped.then(() => primary.inspector?.close());
  }
  // Before the workers boot, so a check sees 'booting' rather than a refused connection.
  const health = options.healthUrl ? await startHealth(options.healthUrl, { readiness }, log) : null;
  void primary.stopped.then(() => health?.server.close());
  await primary.start();
  process.title = `tspuma ${VERSION} cluster${options.tag ? ` [${options.tag}]` : ''}`;

  let controlUrl: string | null = null;
  const token = options.controlToken ?? newToken();
  if (options.controlUrl) {
    const control = await startControl(options.controlUrl, token, primary, log);
    controlUrl = options.controlUrl.scheme === 'unix' ? bindUrl(options.controlUrl) : `tcp://${options.controlUrl.host}:${control.port}`;
    log.info({ controlUrl, token: options.controlToken ? '(configured)' : token }, `* Control app on ${controlUrl}${options.controlToken ? '' : ` (token ${token})`}`);
    void primary.stopped.then(() => control.server.close());
  }
  const files: string[] = [];
  try {
    if (pidfile) {
      try {
        writeFileSafely(pidfile, `${process.pid}\n`, PIDFILE_RULES);
      } catch (err) {
        throw pidfileError(pidfile, options, err);
      }
      files.push(pidfile);
    }
    if (options.state) {
      // The control token: a new 0600 file renamed into place, never written through a symlink
      // or into a file another user created.
      writePrivateFile(resolve(options.state), `${JSON.stringify({ pid: process.pid, control_url: controlUrl, control_auth_token: controlUrl ? token : null, inspect_url: primary.inspector?.url ?? null, running_from: process.cwd(), ...inspectorState(primary.inspector, primary.targets(), options) }, null, 2)}\n`, STATE_RULES.what);
      files.push(resolve(options.state));
      primary.inspector?.trackState(resolve(options.state));
    }
  } catch (err) {
    // The workers are running: stop them before cli.ts prints the coded error and exits 1.
    primary.failure ??= err as TspumaError;
    void primary.stop();
  }
  const code = await primary.stopped;
  for (const f of files) {
    try {
      unlinkSync(f);
    } catch {
      /* gone */
    }
  }
  // The primary gave up (no worker could boot): cli.ts prints the coded error and exits 1.
  if (primary.failure) throw primary.failure;
  return code;
}
