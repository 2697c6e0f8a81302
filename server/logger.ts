// Created by cli.ts (and tests) from the resolved options; every module logs through the
// pino logger it returns, pretty-printed by pino-pretty on a TTY and JSON lines otherwise.
import { createRequire } from 'node:module';
import type { DestinationStream, Logger } from 'pino';
import type { LogLevel } from './options.js';

export interface LoggerOptions {
  /** Default info. */
  level?: LogLevel;
  /** Force pretty (true) or JSON (false); default: pretty when stdout is a TTY. */
  pretty?: boolean;
  /** Write here instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

const require = createRequire(import.meta.url);
// Required, not imported: an ESM import of this CommonJS package scans its source for named
// exports first, about 4 ms of every boot.
const pino = require('pino') as typeof import('pino').default;

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base = { pid: process.pid };
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  if (usePretty) {
    // Required only for a TTY: most servers log JSON, and pino-pretty costs about 50 ms of boot.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({
      colorize: true,
      sync: true,
      ignore: 'pid,hostname',
      translateTime: 'HH:MM:ss.l',
      destination: opts.destination ?? 1,
    });
    return pino({ level, base }, stream);
  }
  return pino({ level, base }, (opts.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: true }));
}
