#!/usr/bin/env node
// The `tspuma` bin: reads argv, TSPUMA_OPTS, the environment and the config file, resolves
// options, loads the app and hands everything to single.ts. Coded errors end here (exit 1).
import { loadApp } from './app-loader.js';
import { argsLayer, envLayer, helpText, parseArgs, splitWords, type ParsedArgs } from './cli/args.js';
import { findConfig, loadConfig } from './config-file.js';
import { isTspumaError } from './errors.js';
import { createLogger } from './logger.js';
import { resolveOptions, type Layer } from './options.js';
import { runSingle } from './single.js';
import { VERSION } from './version.js';

async function main(argv: string[]): Promise<number> {
  const cli = parseArgs(argv, 'command line');
  const optsText = process.env.TSPUMA_OPTS;
  const fromOpts: ParsedArgs | null = optsText && optsText.trim() !== '' ? parseArgs(splitWords(optsText), 'TSPUMA_OPTS') : null;
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

  const options = resolveOptions(layers);
  process.env.NODE_ENV ??= options.environment;
  const log = createLogger({ quiet: options.quiet, debug: options.debug });
  const loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
  const running = await runSingle(options, loaded, log, { ownProcess: true });
  return running.stopped;
}

function report(err: unknown): void {
  if (isTspumaError(err)) {
    process.stderr.write(`tspuma: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`tspuma: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now: app timers or handles left behind must not keep a stopped server alive.
    process.exit(process.exitCode || code);
  },
  (err: unknown) => {
    report(err);
    process.exitCode = 1;
  },
);
