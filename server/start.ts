// Embedding: `import { start } from 'tspuma'` resolves a config object as the CLI resolves its
// layers, turns debug mode on the same way (enableDebug), and boots single mode without
// touching signals or the process's exit.
import type { Logger } from 'pino';
import { loadApp } from './app-loader.js';
import { enableDebug } from './debug-hook.js';
import { configureRedaction, Redactor } from '../diagnostics/redact.js';
import { installConsoleRedaction } from './console-redaction.js';
import { createLogger } from './logger.js';
import { showsErrorDetails } from './exposure.js';
import { resolveOptions, type TspumaConfig } from './options.js';
import { runSingle, type Running } from './single.js';
import { keepTickObjectShape } from './tick-object-shape.js';

export interface StartOptions {
  /** A logger to use; default: pino at info (warn when quiet) on stdout. */
  logger?: Logger;
  /** Directory a relative `app` path resolves against; default: cwd. */
  baseDir?: string;
}

/** Starts single mode in this process from a config object. Stop it with `running.stop()`. */
export async function start(config: TspumaConfig, opts: StartOptions = {}): Promise<Running> {
  keepTickObjectShape();
  const options = resolveOptions([{ source: 'start()', values: { ...config }, fromString: false, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) }]);
  configureRedaction({ cards: options.redactCardNumbers });
  // Before enableDebug: beneath the diagnostics layer's console watch (see console-redaction.ts).
  installConsoleRedaction().configure(options.redactConsole ? new Redactor(options.redact) : null);
  const log = opts.logger ?? createLogger({ level: options.logLevel, redact: options.redact, ownFrames: showsErrorDetails(options.environment) });
  const diagnostics = options.debug ? await enableDebug({ dir: options.dumpDir, ...(options.sources.dumpDir ? { dirSource: options.sources.dumpDir } : {}), frames: options.dumpFrames, redact: options.redact }, () => log) : null;
  diagnostics?.deliverDumps(options.onDump, log);
  let running: Running;
  try {
    const loaded = await loadApp(options.app, options.appBase, options.sources.app ?? 'default');
    running = await runSingle(options, loaded, log, { diagnostics });
  } catch (err) {
    diagnostics?.close();
    throw err;
  }
  // This server's capture ends with it (the CLI closes its own at exit).
  if (diagnostics) void running.stopped.then(() => diagnostics.close());
  return running;
}
