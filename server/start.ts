// Created by users and tests that embed tspuma (`import { start } from 'tspuma'`); resolves
// a config object like the CLI would and hands it to single.ts without touching signals.
import type { Logger } from 'pino';
import { loadApp } from './app-loader.js';
import { diagnostics, installDiagnostics } from './debug-hook.js';
import { createLogger } from './logger.js';
import { resolveOptions, type TspumaConfig } from './options.js';
import { runSingle, type Running } from './single.js';

export interface StartOptions {
  /** A logger to use; default: pino at info (warn when quiet) on stdout. */
  logger?: Logger;
  /** Directory a relative `app` path resolves against; default: cwd. */
  baseDir?: string;
}

/** Starts single mode in this process from a config object. Stop it with `running.stop()`. */
export async function start(config: TspumaConfig, opts: StartOptions = {}): Promise<Running> {
  const options = resolveOptions([{ source: 'start()', values: { ...config }, fromString: false, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) }]);
  const log = opts.logger ?? createLogger({ level: options.logLevel, redact: options.redact });
  if (options.debug && !diagnostics) {
    const { enableDiagnostics } = await import('../diagnostics/index.js');
    installDiagnostics(enableDiagnostics({ frames: options.dumpFrames, redact: options.redact, dir: options.dumpDir, onInternalError: (err) => log.error({ err }, 'diagnostics capture failed') }));
  }
  const loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
  return runSingle(options, loaded, log);
}
