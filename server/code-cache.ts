// What V8 code caches need, for pino's bundle (pino-load.ts) and the build's chunks (chunk-run.ts):
// the key a cache is valid under, the folder a process may write one to, and an atomic write.
// V8 refuses a cache made by another node or under other V8 flags (--max-old-space-size,
// --expose-gc: N25), and reading a refused one costs more than none, so a cache's file is named
// by what voids it.
import { createRequire } from 'node:module';
import { nameHash } from './name-hash.js';

// Builtins through require(), as chunk-run.ts takes them (why: there). No node:crypto: a cache's
// name needs no cryptographic hash (name-hash.ts), and loading it cost every process ~7.5 M
// instructions (~2 ms: its ~15 internal modules) before its first chunk (issue 31, boot5).
const require = createRequire(import.meta.url);
const { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
const { dirname, join } = require('node:path') as typeof import('node:path');

/**
 * What a V8 code cache is valid for besides its source: this node (its V8) and the flags it runs
 * with (its command line and NODE_OPTIONS, which set V8's).
 */
export function codeCacheKey(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string {
  // A script given with -e/-p (the build's) and its --input-type are not flags.
  const own = execArgv.filter((a, i) => !['-e', '--eval', '-p', '--print'].includes(a) && !['-e', '--eval', '-p', '--print'].includes(execArgv[i - 1] ?? '') && !a.startsWith('--input-type'));
  const flags = [...own, ...nodeOptions.split(/\s+/).filter(Boolean)];
  return nameHash(`${process.version}\0${process.arch}\0${flags.join('\0')}`);
}

/** node_modules/.cache/tspuma in the nearest folder above `file` that has a node_modules, or null. */
export function ownCacheDir(file: string): string | null {
  for (let d = dirname(file); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules', '.cache', 'tspuma');
    if (dirname(d) === d) return null;
  }
}

/**
 * Debug mode's ownCode (server/shared-names.ts kOwnCode: the same Symbol.for key, since this module
 * imports none of tspuma's own but the import-free name-hash.ts, chunk-run.ts loading it before any chunk): fn with pausing at
 * exceptions off, so that a cache write that throws and catches (a read-only install, a full disk)
 * never pauses a -d process (review13.7); fn() when debug mode is off.
 */
export const kOwnCodeHere = Symbol.for('tspuma.diagnostics.ownCode');
export function quietly<T>(fn: () => T): T {
  const run = (globalThis as Record<symbol, unknown>)[kOwnCodeHere] as (<U>(f: () => U) => U) | undefined;
  return run ? run(fn) : fn();
}

/**
 * The V8 flags this process set at run time, in order (server/shared-names.ts kRunTimeFlags: the
 * same Symbol.for key, for the same reason as kOwnCodeHere): debug mode's capture sets two once
 * the process serves. V8 refuses a code cache made under another flag hash, so a cache must be made
 * under the flags its script was compiled under: every -d boot refused the diagnostics chunks'
 * caches its last exit had serialized after the flags, compiled them from source and wrote them again.
 */
export const kRunTimeFlagsHere = Symbol.for('tspuma.runTimeV8Flags');
const runTimeFlags = (): readonly (readonly [set: string, undo: string])[] => ((globalThis as Record<symbol, unknown>)[kRunTimeFlagsHere] as readonly (readonly [string, string])[] | undefined) ?? [];

/** How many run-time flags are set now (what a script compiled now is compiled under). */
export const runTimeFlagCount = (): number => runTimeFlags().length;

/** The cache key of code compiled with the first `count` run-time flags set (codeCacheKey's when none). */
export function keyUnderFlags(key: string, count: number): string {
  if (count === 0) return key;
  return nameHash(`${key}\0${runTimeFlags().slice(0, count).map((f) => f[0]).join('\0')}`);
}

/** fn() with the run-time flags past the first `count` undone (the last first), then set again. */
export function underFlags<T>(count: number, fn: () => T): T {
  const later = runTimeFlags().slice(count);
  if (later.length === 0) return fn();
  const v8 = process.getBuiltinModule?.('node:v8') as typeof import('node:v8') | undefined;
  if (v8 === undefined) return fn();
  for (const [, undo] of [...later].reverse()) v8.setFlagsFromString(undo);
  try {
    return fn();
  } finally {
    for (const [set] of later) v8.setFlagsFromString(set);
  }
}

/**
 * Has V8 compute the source hash the inspector reports for each script of this thread (a
 * Debugger.enable of a session of its own, then disable), so that a code cache serialized next
 * carries it: V8 keeps the hash in the script, the cache holds it, and a script compiled from
 * such a cache is not hashed again. Every debugger session's Debugger.enable (a -d process's
 * capture, at boot) hashes every script it has not (SHA-256 of the source: in a -d boot 42% of the
 * main thread's instructions). Skipped in debug mode, whose own session hashed them all already;
 * silent on a node without an inspector.
 */
export function hashSourcesForInspector(): void {
  if ((globalThis as Record<symbol, unknown>)[kOwnCodeHere] !== undefined) return;
  try {
    const inspector = process.getBuiltinModule?.('node:inspector') as typeof import('node:inspector') | undefined;
    if (inspector === undefined) return;
    const session = new inspector.Session();
    session.connect();
    try {
      session.post('Debugger.enable');
      session.post('Debugger.disable');
    } finally {
      session.disconnect();
    }
  } catch {
    /* no inspector: the cache goes without the hashes, as before */
  }
}

/** `data()` written to `file` whole or not at all (another process may be reading it); its size, 0 where it could not be. */
export function writeAtomically(file: string, data: () => Buffer): number {
  return quietly(() => writeWhole(file, data));
}

function writeWhole(file: string, data: () => Buffer): number {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    // The folder first: where it cannot be written (a read-only install), nothing is serialized.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    accessSync(dirname(file), constants.W_OK);
    const bytes = data();
    if (bytes.length === 0) return 0;
    writeFileSync(tmp, bytes, { mode: 0o644 });
    renameSync(tmp, file);
    return bytes.length;
  } catch {
    try {
      rmSync(tmp, { force: true }); // a full disk leaves no part written
    } catch {
      /* nothing more to do */
    }
    return 0; // a read-only tree: compiled without a cache, as before
  }
}
