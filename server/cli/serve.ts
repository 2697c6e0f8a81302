// `tspuma [OPTIONS] [APP]`, the command that serves (server/cli.ts loads it for anything but a
// sub-command): reads argv, TSPUMA_OPTS, the environment and the config file, resolves options,
// turns debug mode on (enableDebug, as start() does), and runs single mode, cluster mode or a
// worker.
import { PRELOAD_CHECK_ENV, WORKER_INDEX_ENV, kDumped } from '../shared-names.js';
import { argsLayer, envLayer, helpText, parseArgs, splitWords, type ParsedArgs } from './args.js';
import { findConfig, loadConfig } from '../config-file.js';
import { readVariable } from '../environment.js';
import type { Logger } from 'pino';
import { enableDebug, type DiagnosticsHook } from '../debug-hook.js';
import { TspumaError, isTspumaError, startupPhase } from '../errors.js';
import { configureRedaction, Redactor } from '../../diagnostics/redact.js';
import { installConsoleRedaction } from '../console-redaction.js';
import { createLogger } from '../logger.js';
import { showsErrorDetails } from '../exposure.js';
import { peekOption, peekSource, resolveOptions, type Layer, type Options } from '../options.js';
import { VERSION } from '../version.js';
import { watchAppExit } from '../app-exit.js';
import { Notifier, isFdBind, takeActivatedSockets, withActivatedBinds } from '../systemd.js';

/** Debug mode's hook, once serve() turned it on: report() and closeDiagnostics() close it. */
let diagnostics: DiagnosticsHook | null = null;

/** Serves as argv says; resolves with the exit code once the server stopped. */
export async function serve(argv: string[]): Promise<number> {
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
    const dirSource = peekSource(layers, 'dumpDir');
    diagnostics = await enableDebug({ dir: peekOption(layers, 'dumpDir'), ...(dirSource !== undefined ? { dirSource } : {}), frames: peekOption(layers, 'dumpFrames'), redact: peekOption(layers, 'redact') }, () => log);
  }
  const d = diagnostics;
  const resolved = d ? d.scope('config', () => resolveOptions(layers)) : resolveOptions(layers);
  // Taken out of the environment before the app loads or a worker forks: sockets systemd passed
  // become binds, and sd_notify is this process's alone.
  const activated = takeActivatedSockets(process.env, process.pid);
  const options = withActivatedBinds(resolved, activated);
  const notifier = new Notifier(process.env, process.pid, { onFailure: (message) => log?.warn({ code: 'TSPUMA_ERR_SD_NOTIFY' }, `TSPUMA_ERR_SD_NOTIFY: ${new TspumaError('TSPUMA_ERR_SD_NOTIFY', { problem: message }).message}`) });
  process.env.NODE_ENV ??= options.environment;
  configureRedaction({ cards: options.redactCardNumbers });
  consoleRedaction.configure(options.redactConsole ? new Redactor(options.redact) : null);
  log = createLogger({ level: options.logLevel, redact: options.redact, ownFrames: showsErrorDetails(options.environment) });
  const noSender = notifier.senderProblem();
  // Said once, by the process systemd started: which sockets it serves, and that the default bind
  // is not bound (a unit's -b edited to no effect otherwise looks like tspuma ignoring it: N21).
  // A worker gets its copies of the same sockets (TSPUMA_LISTEN_FDS): not said again.
  const isWorker = process.env[WORKER_INDEX_ENV] !== undefined;
  if (activated.length > 0 && !isWorker) {
    const uris = options.bind.filter(isFdBind).map((b) => b.uri);
    const skipped = resolved.bind.some((b) => b.source === 'default');
    log.info({ binds: uris }, `* Socket activation: serving ${uris.join(', ')}, passed by systemd (LISTEN_FDS)${skipped ? '; the default bind (port 9292) is not bound' : ''}`);
  }
  if (noSender) log.warn({ code: 'TSPUMA_ERR_SD_NOTIFY' }, `TSPUMA_ERR_SD_NOTIFY: ${new TspumaError('TSPUMA_ERR_SD_NOTIFY', { problem: noSender }).message}`);
  d?.deliverDumps(options.onDump, log);
  // Before the app loads: an app's own process.exit() (at import or while serving) gets a last line.
  if (isWorker || options.workers === 0 || process.env[PRELOAD_CHECK_ENV] === '1') watchAppExit(log, d, isWorker ? `Worker ${process.env[WORKER_INDEX_ENV]} (PID: ${process.pid}): ` : process.env[PRELOAD_CHECK_ENV] === '1' ? `Preload check (PID: ${process.pid}): ` : '');
  // Before a process loads a TypeScript app (a worker, single mode, a --preload check): tspuma's
  // package entry, so an app's `import ... from 'tspuma'` finds it loaded, where through the
  // TypeScript loader's thread its modules cost about 20 ms of boot. A .js/.mjs app loads it in
  // this thread if it imports it, at no extra cost, and most do not (issue 31: 2 modules).
  if ((isWorker || options.workers === 0 || process.env[PRELOAD_CHECK_ENV] === '1') && (await import('../app-loader.js')).importsThroughHooks(options.app, options.appBase)) {
    await import('../index.js');
  }
  if (process.env[PRELOAD_CHECK_ENV] === '1') return preloadOnly(options, log);
  // No app anywhere, and a flag's value names an app file (`tspuma -e src/app.ts`): refused, with
  // which flag took it (the no-app error, or, beside a default app file, a usage error).
  if (!isWorker && options.app === undefined) {
    const { appLastHint, appTakenByFlag, resolveAppPath } = await import('../app-files.js');
    const taken = appTakenByFlag([{ ...cli, source: 'command line' }, ...(fromOpts ? [{ ...fromOpts, source: 'TSPUMA_OPTS' }] : [])], options.appBase);
    if (taken) {
      const fallback = resolveAppPath(undefined, options.appBase, 'default', taken);
      // A default app file is there: serving it, in an environment named after the other one, is
      // not what the command line meant.
      throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `\`${taken.flag}\` took \`${taken.value}\`, an app file, as its value, and no APP was given, so ${fallback} would be served${taken.key === 'environment' ? ` in the environment "${taken.value}"` : ''}: ${appLastHint(taken)}`, source: taken.source });
    }
  }
  // Only a process the primary forked carries the worker index; node:cluster is loaded for it alone.
  if (isWorker && (await import('node:cluster')).default.isWorker) {
    const index = Number(process.env[WORKER_INDEX_ENV]);
    const { runWorker } = await import('../cluster/worker.js');
    return runWorker(options, log, index, d);
  }
  if (options.workers > 0) {
    const code = await (await import('../cluster/run.js')).runCluster(options, log, d, notifier);
    await notifier.flush();
    return code;
  }
  const [{ loadApp }, { runSingle, singleBootLines, loadSingleModules }, { watchLoading }, { bootSignalOwner }] = await Promise.all([import('../app-loader.js'), import('../single.js'), import('../app-loading.js'), import('../stop-signal-owner.js')]);
  // Stop signals have one owner from the first boot line to the exit: the loading watch and
  // single mode's graceful stop take them from it in turn.
  const signals = bootSignalOwner(log);
  // The boot lines that need no app go first: an import that never finishes is then not silent.
  singleBootLines(options, log);
  // Before the app: a .ts app's loader would route these imports through its thread.
  await loadSingleModules(options);
  const loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default', (file) => watchLoading(log!, file, signals));
  const running = await runSingle(options, loaded, log, { ownProcess: true, diagnostics: d, notifier, announced: true, signals });
  const code = await running.stopped;
  await notifier.flush();
  return code;
}

/**
 * The process a --preload primary starts to load the app once: loads it, tells the primary, and
 * returns (the CLI then exits, the app's timers with it). A load error rejects as serve() does.
 */
async function preloadOnly(options: Options, log: Logger): Promise<number> {
  const [{ loadApp }, { watchLoading }, { PRELOADED }, { bootSignalOwner }] = await Promise.all([import('../app-loader.js'), import('../app-loading.js'), import('../cluster/preload-check.js'), import('../stop-signal-owner.js')]);
  const signals = bootSignalOwner(log);
  await loadApp(options.app, options.appBase, options.sources.app ?? 'default', (file) => watchLoading(log, file, signals, { what: 'the app (preload check)' }));
  await new Promise<void>((resolve) => (process.send ? process.send(PRELOADED, () => resolve()) : resolve()));
  return 0;
}

/** A failure of serve(): its dump under debug mode, and one line on stderr. */
export function report(err: unknown): void {
  if (diagnostics && !(err as { [kDumped]?: boolean })?.[kDumped]) {
    try {
      diagnostics.report(err, { phase: startupPhase(err) });
    } catch {
      /* the one-line error below still goes out */
    }
  }
  if (isTspumaError(err)) {
    // Redacted as the dump above it is: a bind URI's password, a token given as an option.
    process.stderr.write(`tspuma: ${err.code}: ${new Redactor().query(err.message)}\n`);
  } else {
    process.stderr.write(`tspuma: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  }
}

/** Closes debug mode's hook (before the process exits). */
export function closeDiagnostics(): void {
  diagnostics?.close();
}
