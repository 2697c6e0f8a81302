// Options only one way of running acts on (cluster mode, single mode, the CLI's own process), and
// the boot warning (TSPUMA_ERR_OPTION_MODE) for each one set where nothing reads it: no option is
// silently ignored.
import type { Logger } from 'pino';
import { TspumaError } from './errors.js';
import type { OptionName } from './option-records.js';
import type { Options } from './options.js';

/** single: `tspuma -w 0`; cluster: `-w N`, in the primary; embedded: single mode through start(). */
export type RunMode = 'single' | 'cluster' | 'embedded';

const NO_FORK = 'single mode forks no worker; afterBooted runs once it listens';
const NO_WORKER_STOP = 'single mode has no worker to stop; afterStopped runs after its graceful stop';
const WATCHES_WORKERS = 'the primary watches its workers with it, and single mode has none; run single mode under a supervisor that restarts it';

/** Options that act in cluster mode only, and what a single-mode user should know instead. */
export const CLUSTER_ONLY: Partial<Record<OptionName, string>> = {
  afterWorkerFork: NO_FORK,
  afterWorkerShutdown: NO_WORKER_STOP,
  balanceBusyWorkers: 'single mode has one process: there is no other worker to leave a connection to',
  balanceConnections: 'single mode has one process: there is no other worker to leave a connection to',
  beforeFork: NO_FORK,
  beforeRestart: 'single mode has no phased or hot restart',
  beforeWorkerBoot: 'single mode boots no worker; code at the top of the app module runs before it serves',
  beforeWorkerFork: NO_FORK,
  beforeWorkerShutdown: NO_WORKER_STOP,
  preload: 'single mode loads the app in its one process anyway',
  workerAutopsyTimeout: WATCHES_WORKERS,
  workerBootAttempts: WATCHES_WORKERS,
  workerBootTimeout: WATCHES_WORKERS,
  workerCheckInterval: WATCHES_WORKERS,
  workerShutdownTimeout: 'single mode has no worker to kill; forceShutdownAfter bounds its stop',
  workerTimeout: WATCHES_WORKERS,
};

/** Options that act in single mode only. */
export const SINGLE_ONLY: Partial<Record<OptionName, string>> = {
  idleTimeout: 'a worker that stopped when idle would be replaced by the primary; idleTimeout stops single mode (-w 0) only',
};

/** Options only the CLI's process acts on: start() serves the app and leaves the process to its caller. */
export const CLI_ONLY: Partial<Record<OptionName, string>> = {
  controlUrl: 'the control app can stop and halt the process, which belongs to the program that called start(); run the app with the tspuma CLI to use it',
  controlToken: 'start() serves no control app',
  inspect: 'start() opens no inspector in a process it does not own; run the app with the tspuma CLI, or node --inspect',
  state: 'the state file names the process for tspuma ctl, probe and inspect, which start() does not serve',
};

/** Options that mean something only beside controlUrl (probes are set through the control app). */
const NEEDS_CONTROL: Partial<Record<OptionName, string>> = {
  controlToken: 'no control app is served without controlUrl',
  probeExpiry: 'probes are set through the control app, and there is none without controlUrl',
  probeLiveEdit: 'probes are set through the control app, and there is none without controlUrl',
  probeLogRate: 'probes are set through the control app, and there is none without controlUrl',
  probeMax: 'probes are set through the control app, and there is none without controlUrl',
  probePauseBudget: 'probes are set through the control app, and there is none without controlUrl',
  probeSnapshotRate: 'probes are set through the control app, and there is none without controlUrl',
};

const WHERE: Record<RunMode, string> = { single: 'in single mode (-w 0)', cluster: 'in cluster mode (-w N)', embedded: 'in a server started with start()' };

/** Set by the user (a source other than the default), and for hook lists, not empty. */
function isSet(options: Options, name: OptionName): boolean {
  if (options.sources[name] === undefined) return false;
  const value = (options as Record<string, unknown>)[name];
  return !(Array.isArray(value) && value.length === 0) && value !== null;
}

/** One coded error per option set where nothing reads it, in option-name order. */
export function ignoredOptions(options: Options, mode: RunMode): TspumaError[] {
  const out = new Map<string, TspumaError>();
  const add = (table: Partial<Record<OptionName, string>>, where: string) => {
    for (const [name, reason] of Object.entries(table) as [OptionName, string][]) {
      if (!out.has(name) && isSet(options, name)) out.set(name, new TspumaError('TSPUMA_ERR_OPTION_MODE', { name, source: options.sources[name], where, reason }));
    }
  };
  if (mode === 'cluster') add(SINGLE_ONLY, WHERE.cluster);
  else add(CLUSTER_ONLY, WHERE[mode]);
  if (mode === 'embedded') add(CLI_ONLY, WHERE.embedded);
  if (!options.controlUrl) add(NEEDS_CONTROL, 'without controlUrl');
  return [...out.values()].sort((a, b) => String(a.params.name).localeCompare(String(b.params.name)));
}

/** The boot warnings: one line each, naming the option, where its value came from and why. */
export function warnIgnoredOptions(log: Logger, options: Options, mode: RunMode): void {
  for (const err of ignoredOptions(options, mode)) log.warn({ code: err.code, option: err.params.name }, `${err.code}: ${err.message}`);
}
