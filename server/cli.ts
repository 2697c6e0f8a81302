#!/usr/bin/env node
// The `tspuma` bin: reads argv, TSPUMA_OPTS, the environment and the config file, resolves
// options, turns debug mode on (enableDebug, as start() does), and runs single mode, cluster
// mode or a worker. Coded errors end here (exit 1).
import { WORKER_INDEX_ENV, kDumped } from './shared-names.js';
import { argsLayer, envLayer, helpText, parseArgs, splitWords, type ParsedArgs } from './cli/args.js';
import { findConfig, loadConfig } from './config-file.js';
import { readVariable } from './environment.js';
import type { Logger } from 'pino';
import { enableDebug, type DiagnosticsHook } from './debug-hook.js';
import type { Dump } from '../diagnostics/model.js';
import { TspumaError, isTspumaError, startupPhase } from './errors.js';
import { configureRedaction, Redactor } from '../diagnostics/redact.js';
import { installConsoleRedaction } from './console-redaction.js';
import { createLogger } from './logger.js';
import { peekOption, resolveOptions, type Layer } from './options.js';
import { VERSION } from './version.js';
import { Notifier, takeActivatedSockets, withActivatedBinds } from './systemd.js';

/** `tspuma dump [--all-frames] FILE.json`: prints a saved dump as text (every frame in full with --all-frames). */
const DUMP_USAGE = 'usage: tspuma dump [--all-frames] FILE.json';

async function dumpCommand(argv: string[]): Promise<number> {
  const allFrames = argv.includes('--all-frames');
  const args = argv.filter((a) => a !== '--all-frames');
  if (args.length !== 1) throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: DUMP_USAGE, source: 'command line' });
  const { readFileSync } = await import('node:fs');
  const { renderText } = await import('../diagnostics/render.js');
  let dump: Dump;
  try {
    dump = JSON.parse(readFileSync(args[0]!, 'utf8')) as Dump;
  } catch (err) {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `cannot read dump ${args[0]}: ${(err as Error).message}`, source: 'command line' });
  }
  if (dump?.version !== 1 || !Array.isArray(dump.frames)) {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${args[0]} is not a tspuma dump (version 1)`, source: 'command line' });
  }
  process.stdout.write(`${renderText(dump, process.stdout.isTTY === true, { allFrames })}\n`);
  return 0;
}

/** Debug mode's hook, once main() turned it on: report() and the exit close it. */
let diagnostics: DiagnosticsHook | null = null;

/** The sub-commands' modules, each exporting its USAGE text. */
const SUBCOMMANDS: Record<string, () => Promise<{ USAGE: string }>> = {
  dump: async () => ({ USAGE: DUMP_USAGE }),
  ctl: () => import('./cli/ctl.js'),
  inspect: () => import('./cli/inspect.js'),
  probe: () => import('./cli/probe.js'),
  replay: () => import('./cli/replay.js'),
  doctor: () => import('./cli/doctor.js'),
};

async function main(argv: string[]): Promise<number> {
  // `tspuma ctl --help`: the sub-command's usage on stdout, exit 0.
  const sub = SUBCOMMANDS[argv[0] ?? ''];
  if (sub && argv.slice(1).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${(await sub()).USAGE}\n`);
    return 0;
  }
  if (argv[0] === 'dump') return dumpCommand(argv.slice(1));
  if (argv[0] === 'ctl') return (await import('./cli/ctl.js')).ctl(argv.slice(1));
  if (argv[0] === 'inspect') return (await import('./cli/inspect.js')).inspect(argv.slice(1));
  if (argv[0] === 'probe') return (await import('./cli/probe.js')).probe(argv.slice(1));
  if (argv[0] === 'replay') return (await import('./cli/replay.js')).replay(argv.slice(1));
  if (argv[0] === 'doctor') return (await import('./cli/doctor.js')).doctor(argv.slice(1));
  const cli = parseArgs(argv, 'command line');
  const optsText = readVariable('TSPUMA_OPTS', process.env);
  const fromOpts: ParsedArgs | null = optsText !== undefined ? parseArgs(splitWords(optsText), 'TSPUMA_OPTS') : null;
  if (cli.help || fromOpts?.help) {
    process.stdout.write(`${helpText(VERSION)}\n`);
    return 0;
  }
  if (cli.version || fromOpts?.version) {
    process.stdout.write(`tspuma ${VERSION} (node ${process.version})\n`);
    return 0;
  }

  const configArg = cli.config ?? fromOpts?.config;
  const configFile = findConfig(configArg, cli.config !== undefined ? '-C in command line' : '-C in TSPUMA_OPTS');
  const layers: Layer[] = [];
  if (configFile) layers.push(await loadConfig(configFile));
  layers.push(envLayer(process.env));
  if (fromOpts) layers.push(argsLayer(fromOpts, 'TSPUMA_OPTS'));
  layers.push(argsLayer(cli, 'command line'));
  const appArg = cli.app ?? fromOpts?.app;
  if (appArg !== undefined) {
    layers.push({ source: cli.app !== undefined ? 'command line' : 'TSPUMA_OPTS', values: { app: appArg }, origins: { app: 'APP argument' }, fromString: true });
  }

  // Debug mode starts before options are validated, so a bad option gets a dump too.
  // Capture failures go to stderr until the logger exists, then to it (as with start()).
  let log: Logger | null = null;
  // Beneath the diagnostics layer's console watch, which must see the app's own Error objects.
  const consoleRedaction = installConsoleRedaction();
  if (peekOption(layers, 'debug')) {
    diagnostics = await enableDebug({ dir: peekOption(layers, 'dumpDir'), frames: peekOption(layers, 'dumpFrames'), redact: peekOption(layers, 'redact') }, () => log);
  }
  const d = diagnostics;
  const resolved = d ? d.scope('config', () => resolveOptions(layers)) : resolveOptions(layers);
  // Taken out of the environment before the app loads or a worker forks: sockets systemd passed
  // become binds, and sd_notify is this process's alone.
  const options = withActivatedBinds(resolved, takeActivatedSockets(process.env, process.pid));
  const notifier = new Notifier(process.env, process.pid, { onFailure: (message) => log?.warn({ code: 'TSPUMA_ERR_SD_NOTIFY' }, `TSPUMA_ERR_SD_NOTIFY: ${new TspumaError('TSPUMA_ERR_SD_NOTIFY', { problem: message }).message}`) });
  process.env.NODE_ENV ??= options.environment;
  configureRedaction({ cards: options.redactCardNumbers });
  consoleRedaction.configure(options.redactConsole ? new Redactor(options.redact) : null);
  log = createLogger({ level: options.logLevel, redact: options.redact });
  const noSender = notifier.senderProblem();
  if (noSender) log.warn({ code: 'TSPUMA_ERR_SD_NOTIFY' }, `TSPUMA_ERR_SD_NOTIFY: ${new TspumaError('TSPUMA_ERR_SD_NOTIFY', { problem: noSender }).message}`);
  d?.deliverDumps(options.onDump, log);
  const isWorker = process.env[WORKER_INDEX_ENV] !== undefined;
  // Before a process loads the app (a worker, single mode, a primary with --preload): tspuma's
  // package entry, so an app's `import ... from 'tspuma'` finds it loaded, where through the
  // TypeScript loader's thread its modules cost about 20 ms of boot. Here rather than in
  // ts-loader.ts: the entry imports start.ts, which imports the app loader (an import circle).
  if (isWorker || options.workers === 0 || options.preload) await import('./index.js');
  // Only a process the primary forked carries the worker index; node:cluster is loaded for it alone.
  if (isWorker && (await import('node:cluster')).default.isWorker) {
    const index = Number(process.env[WORKER_INDEX_ENV]);
    const { runWorker } = await import('./cluster/worker.js');
    return runWorker(options, log, index, d);
  }
  if (options.workers > 0) {
    const code = await (await import('./cluster/run.js')).runCluster(options, log, d, notifier);
    await notifier.flush();
    return code;
  }
  const [{ loadApp }, { runSingle }] = await Promise.all([import('./app-loader.js'), import('./single.js')]);
  const loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
  const running = await runSingle(options, loaded, log, { ownProcess: true, diagnostics: d, notifier });
  const code = await running.stopped;
  await notifier.flush();
  return code;
}

function report(err: unknown): void {
  if (diagnostics && !(err as { [kDumped]?: boolean })?.[kDumped]) {
    try {
      diagnostics.report(err, { phase: startupPhase(err) });
    } catch {
      /* the one-line error below still goes out */
    }
  }
  if (isTspumaError(err)) {
    process.stderr.write(`tspuma: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`tspuma: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    diagnostics?.close();
    // Exit now: app timers or handles left behind must not keep a stopped server alive.
    process.exit(process.exitCode || code);
  },
  (err: unknown) => {
    report(err);
    diagnostics?.close();
    process.exit(1);
  },
);
