// Every environment variable tspuma reads that is not an option's own (an option's variables,
// PORT, WEB_CONCURRENCY, TSPUMA_LOG_LEVEL..., are in its record in option-records.ts): who sets
// it and what tspuma does with it. --help's "Environment:" lines for the ones a user sets and the
// variables table of docs/configuration.md are derived from VARIABLES; a test checks that the code
// of server/, diagnostics/ and inspector/ reads no variable that is in neither place.
import { TspumaError, showValue } from './errors.js';
import { CLUSTER_RUN_ENV, DUMP_DIR_REFUSED_ENV, PRELOAD_CHECK_ENV, SITE_CLAIMS_ENV, STDERR_TTY_ENV, TS_LOADER_ENV, WORKER_BOOT_FAILURES_ENV, WORKER_BINDS_ENV, WORKER_INDEX_ENV, WORKER_LISTEN_FDS_ENV, WORKER_PHASE_ENV } from './shared-names.js';

/** Who puts a variable in tspuma's environment. */
export type SetBy = 'you' | 'systemd' | 'CI' | 'Node' | 'tspuma';

export interface VariableRecord {
  readonly setBy: SetBy;
  /** What tspuma does with it (markdown: the docs table's cell). */
  readonly doc: string;
  /** Variables a user sets: the --help line. */
  readonly help?: string;
  /** Variables with a fixed set of values: those values, the first the default (unset or blank). */
  readonly values?: readonly string[];
}

/** How .ts files load; settled before a config file (maybe TypeScript itself) is imported. */
export const TS_LOADERS = ['auto', 'tsx'] as const;
export type TsLoaderSetting = (typeof TS_LOADERS)[number];

/** The GitHub Actions variables a dump's annotations and job summary are made from. */
const GITHUB = 'With `GITHUB_ACTIONS=true`: where the job summary and the links to the run\'s commit in dump annotations come from.';

/** Alphabetised by who sets them, then by name. */
export const VARIABLES = {
  TSPUMA_OPTS: {
    setBy: 'you',
    doc: 'More command-line options, split as a shell would (quotes, backslashes), between the environment variables and the command line in precedence. Workers get it without `--control-token`.',
    help: 'Extra options parsed like the command line, e.g. TSPUMA_OPTS="-q --log-requests".',
  },
  [TS_LOADER_ENV]: {
    setBy: 'you',
    values: TS_LOADERS,
    doc: 'How .ts files load ([TypeScript loading](#typescript-loading-tspuma_ts_loader)). Read from the environment only: it is settled before the config file is imported. Any other value is refused with `TSPUMA_ERR_OPTION_INVALID`.',
    help: 'How .ts files load: auto (esbuild with a compile cache in an ES-module package, else tsx) or tsx (default: auto).',
  },
  CI: { setBy: 'CI', doc: '`true` or `1`: with debug, dumps go to `./tspuma-dumps` unless `dumpDir` says otherwise, and an exit summary is printed.' },
  GITHUB_ACTIONS: { setBy: 'CI', doc: '`true`: with debug, each dump is announced as a GitHub annotation and summed up in the job summary.' },
  GITHUB_REPOSITORY: { setBy: 'CI', doc: GITHUB },
  GITHUB_RUN_ID: { setBy: 'CI', doc: GITHUB },
  GITHUB_SERVER_URL: { setBy: 'CI', doc: GITHUB },
  GITHUB_SHA: { setBy: 'CI', doc: GITHUB },
  GITHUB_STEP_SUMMARY: { setBy: 'CI', doc: GITHUB },
  GITHUB_WORKSPACE: { setBy: 'CI', doc: GITHUB },
  NODE_OPTIONS: { setBy: 'Node', doc: 'Read for `--inspect` flags: when Node prints its own inspector lines, tspuma does not print them again.' },
  PATH: { setBy: 'Node', doc: 'Where `systemd-notify` is looked for; passed on to the helpers tspuma starts (`systemd-notify`, a `node` that checks the inspector protocol).' },
  LISTEN_FDNAMES: { setBy: 'systemd', doc: 'Socket activation: the names of the passed sockets (`FileDescriptorName=`), shown in their binds (`fd://3?name=web`). Removed from the environment once read.' },
  LISTEN_FDS: { setBy: 'systemd', doc: 'Socket activation: how many sockets are passed from fd 3 on; tspuma serves them instead of binding. Removed from the environment once read.' },
  LISTEN_PID: { setBy: 'systemd', doc: 'Socket activation: the pid the sockets are for; another pid\'s are left alone. Removed from the environment once read.' },
  NOTIFY_SOCKET: { setBy: 'systemd', doc: '`Type=notify`: where READY, STATUS, RELOADING, STOPPING and WATCHDOG datagrams go. Removed from the environment once read, so the app\'s children do not notify.' },
  WATCHDOG_PID: { setBy: 'systemd', doc: 'The pid `WATCHDOG_USEC` is meant for; another pid sends no WATCHDOG=1. Removed once read.' },
  WATCHDOG_USEC: { setBy: 'systemd', doc: '`WatchdogSec=`: WATCHDOG=1 is sent every half of it. Removed once read.' },
  [CLUSTER_RUN_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary for its workers: the run id (`<pid>-<start>-m<machine>`: the machine a hash of the host name and pid namespace) they claim dump sites under in the dump folder (or, without one, in `TSPUMA_SITE_CLAIMS`).' },
  [SITE_CLAIMS_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary with debug for its workers: a private folder of its own (removed when it stops) where they claim dump sites when no dump folder is written, so each site is printed in full once for the whole cluster, respawned workers included.' },
  [WORKER_LISTEN_FDS_ENV]: { setBy: 'tspuma', doc: 'Set by a socket-activated primary for its workers: the activated sockets\' fds and bind URIs.' },
  [WORKER_BINDS_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary for its workers: the binds it holds for its whole life, each with the fd of the worker\'s copy of its socket (JSON). Removed from the environment once read.' },
  [WORKER_INDEX_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary for each worker: its index. A process that has it runs as a worker.' },
  [WORKER_PHASE_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary for each worker: its phase (the restart generation it belongs to).' },
  [WORKER_BOOT_FAILURES_ENV]: { setBy: 'tspuma', doc: 'Set by a cluster primary for each worker: how many worker boots in a row have failed with an error their worker reported (one killed at workerBootTimeout reported none); with -d, only a worker forked before any such failure dumps its own boot failure.' },
  [PRELOAD_CHECK_ENV]: { setBy: 'tspuma', doc: 'Set to `1` by a cluster primary with `preload` for the process it starts to load the app once and exit (the load check), so the app never runs in the primary.' },
  [DUMP_DIR_REFUSED_ENV]: { setBy: 'tspuma', doc: 'Set by a process that found its dump folder unusable at boot (and warned once with `TSPUMA_ERR_DUMP_DIR`) to that folder: its workers, which inherit it, write their dumps to stderr only and do not warn again.' },
  [STDERR_TTY_ENV]: { setBy: 'tspuma', doc: 'Set to `1` by a cluster primary whose stderr is a terminal, for workers whose stderr it reads through a pipe (to keep Node\'s inspector lines out): their dumps are coloured as on a terminal.' },
} as const satisfies Record<string, VariableRecord>;

export type VariableName = keyof typeof VARIABLES;
export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

/** A record seen without its literal types. */
export function variableRecord(name: VariableName): VariableRecord {
  return VARIABLES[name] as VariableRecord;
}

/** A variable's text, trimmed; undefined when unset or blank. */
export function readVariable(name: VariableName, env: NodeJS.ProcessEnv): string | undefined {
  const text = env[name]?.trim();
  return text === undefined || text === '' ? undefined : text;
}

/** A variable with a fixed set of values: its value, the default when unset; refuses any other. */
export function readChoice<T extends string>(name: VariableName, env: NodeJS.ProcessEnv): T {
  const values = variableRecord(name).values;
  if (!values) throw new Error(`${name} has no fixed set of values`);
  const text = readVariable(name, env) ?? values[0]!;
  if (!values.includes(text)) throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', { name, source: 'environment', expected: `one of ${values.join(', ')}`, value: showValue(env[name]) });
  return text as T;
}

/** The variables table of docs/configuration.md. */
export function variablesTable(): string {
  const row = (cells: string[]) => ['', ...cells.map((c) => ` ${c} `), ''].join('|');
  const rows = VARIABLE_NAMES.map((name) => {
    const r = variableRecord(name);
    return row([`\`${name}\``, r.setBy, `${r.values ? `${r.values.map((v) => `\`${v}\``).join(', ')} (default \`${r.values[0]}\`). ` : ''}${r.doc}`]);
  });
  return [row(['variable', 'set by', 'meaning']), row(['---', '---', '---']), ...rows].join('\n');
}
