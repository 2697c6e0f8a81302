// Loading the app: finds and imports the user's app module (TypeScript through ts-loader.ts, with
// source maps), picks its export and adapts it (adapters.ts) into one invoke.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adapt, detectKind, type Adapted } from './adapters.js';
import { appHooks, type AppHooks } from './app-checks.js';
import type { UpgradeHandler, WebSocketHandler } from './app-types.js';
import { appFileOf, resolveAppPath } from './app-files.js';
import { TspumaError, showValue } from './errors.js';
import type { TsLoaderChoice } from './ts-loader.js';

export { APP_EXTENSIONS, DEFAULT_APP_FILES, appFileOf } from './app-files.js';

/**
 * Runs `load` counting the listen() calls of any net/http server meanwhile (net.Server's public
 * method, wrapped for that time only): an app module that listens by itself while it loads is
 * told to export the app instead.
 */
async function countingListens<T>(load: () => Promise<T>): Promise<{ value: T; listens: number; where: string[] }> {
  const proto = net.Server.prototype;
  const original = proto.listen;
  let listens = 0;
  const where: string[] = [];
  proto.listen = function (this: net.Server, ...args: unknown[]) {
    listens++;
    where.push(listenTarget(args));
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof proto.listen;
  try {
    return { value: await load(), listens, where };
  } finally {
    proto.listen = original;
  }
}

/** What a listen() call's arguments name: `port 3000`, `127.0.0.1:3000`, a socket path. */
function listenTarget(args: unknown[]): string {
  const [a, b] = args;
  const o = a !== null && typeof a === 'object' ? (a as { port?: unknown; host?: unknown; path?: unknown }) : null;
  const port = o ? o.port : a;
  const host = o ? o.host : typeof b === 'string' ? b : undefined;
  if (o?.path !== undefined) return String(o.path);
  if (typeof port === 'string' && !/^\d+$/.test(port)) return port; // a pipe or socket path
  if (port === undefined || port === null) return 'a port of its own';
  return typeof host === 'string' ? `${host}:${String(port)}` : `port ${String(port)}`;
}

/** "file.ts:3:9" for the first stack frame inside `file`, to point at a load error. */
function locate(err: unknown, file: string): string {
  const stack = (err as Error)?.stack ?? '';
  const url = pathToFileURL(file).href;
  for (const line of stack.split('\n')) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (m && (m[1] === file || m[1] === url)) return ` (at ${relative(process.cwd(), file) || file}:${m[2]}:${m[3]})`;
  }
  return '';
}

/** CommonJS by its extension: Node never loads these as ES modules, whatever package.json says. */
export const isCommonJsFile = (file: string): boolean => /\.c[jt]s$/.test(file);

/**
 * What `import()` would give for a CommonJS module's exports: `default` is module.exports, and an
 * object's own keys are named exports too (`exports.ready = ...` beside `exports.default = app`).
 */
export function commonJsNamespace(exports: unknown): Record<string, unknown> {
  const named = exports !== null && typeof exports === 'object' ? { ...(exports as Record<string, unknown>) } : {};
  return { ...named, default: exports };
}

/** A file TypeScript's loader is registered for when it is imported (importUserModule). */
const LOADED_THROUGH_HOOKS = /\.(?:[cm]?tsx?|jsx)$/;

/**
 * ts-loader.ts, once a TypeScript (or JSX) file is about to be imported: a .js, .mjs or .cjs
 * app's process loads neither it nor ts-hooks.ts (issue 31: 22 KB in two modules, about 2 ms of
 * CPU at every such boot, worker or single).
 */
let typeScript: typeof import('./ts-loader.js') | null = null;

/** The TypeScript loader registered in this process and the boot line's account of it; null when none was (no TypeScript file imported). */
export function tsLoaderInUse(): { choice: TsLoaderChoice; text: string } | null {
  const choice = typeScript?.tsLoader() ?? null;
  return choice && typeScript ? { choice, text: typeScript.describeTsLoader(choice) } : null;
}

/**
 * Whether this app's import goes through a module-hooks thread: its file is TypeScript (or JSX),
 * or a .ts config file already registered the loader. Every module imported after such an app
 * is resolved and loaded through that thread too (about 2 ms of CPU a module more), so what the
 * app will likely import (tspuma's package entry) is worth importing before it; a .js/.mjs app
 * imports it at its own cost, in this thread, only if it does.
 */
export function importsThroughHooks(app: unknown, base: string): boolean {
  if (tsLoaderInUse() !== null) return true;
  const file = appFileOf(app, base);
  return file !== null && LOADED_THROUGH_HOOKS.test(file);
}

/**
 * Imports a user module (.ts or .js); errors become `code` with the file and the location.
 * A .cjs or .cts file is required, as CommonJS must be: through Node's CommonJS loader (with
 * TypeScript's require hooks for .cts), never through import(), whose hook-supplied CommonJS
 * path on Node 20 cannot require a .json and aborts the process under -d (ts-loader-cjs-hooks.ts).
 */
export async function importUserModule(
  file: string,
  code: 'TSPUMA_ERR_APP_LOAD' | 'TSPUMA_ERR_CONFIG_LOAD',
): Promise<Record<string, unknown>> {
  if (LOADED_THROUGH_HOOKS.test(file)) {
    typeScript ??= await import('./ts-loader.js');
    await typeScript.registerTypeScript(file);
  }
  try {
    if (isCommonJsFile(file)) return commonJsNamespace(createRequire(file)(file));
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    // A CommonJS .ts file (tsx in a CommonJS package) compiled from ES-module syntax: its exports
    // object is the default, and its named exports (ready(), websocket) sit on it.
    const exports = mod.default as { __esModule?: unknown } | null | undefined;
    if (exports !== null && typeof exports === 'object' && exports.__esModule === true) return { ...commonJsNamespace(exports), ...mod };
    return mod;
  } catch (err) {
    const compile = compileError(err);
    if (compile) {
      const at = compile.errors[0]!.location;
      const message = `SyntaxError: ${compile.message} (at ${relative(process.cwd(), at.file) || at.file}:${at.line}:${at.column + 1})`;
      throw new TspumaError(code, { path: file, message }, { cause: compile });
    }
    const e = err as Error;
    const message = `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}${locate(err, file)}`;
    throw new TspumaError(code, { path: file, message }, { cause: err });
  }
}

/** Where esbuild found a syntax error, as its own messages give it (line 1-based, column 0-based). */
export interface CompileLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}
const COMPILE_LINE = /^(\/.+?):(\d+):(\d+): ERROR: (.+)$/gm;

/**
 * esbuild's "Transform failed with N error(s):\n<file>:<line>:<col>: ERROR: <text>" (its `errors`
 * list does not survive the loader thread, its message does) as a SyntaxError: the first error's
 * text (and how many more), a stack frame at its position, and `errors[0].location`, which a dump
 * makes its culprit frame (diagnostics/stack-text.ts compileFrame). Null for any other error.
 */
export function compileError(err: unknown): (SyntaxError & { errors: { text: string; location: CompileLocation }[] }) | null {
  const own = (err as { errors?: { text?: unknown; location?: { file?: unknown; line?: unknown; column?: unknown } | null }[] } | null)?.errors;
  let found: { text: string; location: CompileLocation }[] = [];
  if (Array.isArray(own) && own.every((e) => e && typeof e.text === 'string' && e.location && typeof e.location.file === 'string')) {
    found = own.map((e) => ({ text: e.text as string, location: { file: e.location!.file as string, line: Number(e.location!.line), column: Number(e.location!.column) } }));
  } else {
    const text = String((err as Error | null)?.message ?? '');
    if (!/^Transform failed with \d+ errors?:/.test(text)) return null;
    for (const m of text.matchAll(COMPILE_LINE)) found.push({ text: m[4]!, location: { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } });
  }
  if (found.length === 0) return null;
  const first = found[0]!;
  const more = found.length > 1 ? ` (and ${found.length - 1} more error(s): ${found.slice(1, 4).map((e) => `${e.text} at line ${e.location.line}`).join('; ')})` : '';
  const e = Object.assign(new SyntaxError(`${first.text}${more}`), { errors: found });
  e.stack = `SyntaxError: ${e.message}\n    at ${first.location.file}:${first.location.line}:${first.location.column + 1}`;
  return e;
}

/** The module's app: its default export (unwrapping a CommonJS module.exports.default), else `app`. */
export function pickExport(mod: Record<string, unknown>): unknown {
  let candidate = mod.default ?? mod.app;
  if (candidate && typeof candidate === 'object' && detectKind(candidate) === null && 'default' in candidate) {
    candidate = (candidate as { default: unknown }).default;
  }
  return candidate;
}

export interface LoadedApp {
  readonly adapted: Adapted;
  /** The app's ready(), health() and shutdown() exports (app-checks.ts). */
  readonly hooks: AppHooks;
  /** The file the app came from, or null for an app given inline in the config. */
  readonly file: string | null;
  /** Servers the module started itself while loading (`app.listen(3000)`): what each listens on. */
  readonly ownListens?: readonly string[];
  /** A TypeScript app set Error.prepareStackTrace while loading (source-map-support/register): its stack texts show compiled lines. */
  readonly stackMapper?: true;
}

/**
 * The warning for an app that started a server of its own while loading as well as exporting the
 * app (`export default app` and `app.listen(3000)`): that server serves outside tspuma.
 */
export function ownListenWarning(loaded: LoadedApp): { code: 'TSPUMA_ERR_APP_LISTEN'; message: string } | null {
  if (!loaded.ownListens?.length || !loaded.file) return null;
  const err = new TspumaError('TSPUMA_ERR_APP_LISTEN', { path: loaded.file, where: loaded.ownListens.join(', ') });
  return { code: 'TSPUMA_ERR_APP_LISTEN', message: err.message };
}

/** An app file tspuma compiles on the fly (its stack texts map through Node's source maps). */
const COMPILED = /\.(?:ts|mts|cts|tsx)$/;

/**
 * The warnings of an app's load, each with its code: a server of its own (ownListenWarning), a stack
 * mapper of its own that reads compiled positions as the .ts file's (source-map-support/register
 * looks for a source map in the .ts file on disk, which has none, and replaces Node's mapping).
 */
export function appLoadWarnings(loaded: LoadedApp): { code: string; message: string }[] {
  const out: { code: string; message: string }[] = [];
  const listen = ownListenWarning(loaded);
  if (listen) out.push(listen);
  if (loaded.stackMapper && loaded.file) out.push({ code: 'TSPUMA_ERR_APP_STACK_MAPPER', message: new TspumaError('TSPUMA_ERR_APP_STACK_MAPPER', { path: loaded.file }).message });
  return out;
}

/** Finds, imports and adapts the app named by `app` (a path, or an inline handler from the config). */
export async function loadApp(app: unknown, base: string, source: string, watch?: (file: string) => () => void): Promise<LoadedApp> {
  let file: string | null = null;
  let exported = app;
  let mod: Record<string, unknown> = {};
  let ownListens: string[] = [];
  let stackMapper = false;
  if (app === undefined || typeof app === 'string') {
    file = resolveAppPath(app, base, source);
    const done = watch?.(file);
    let loaded;
    const prepare = Error.prepareStackTrace;
    try {
      loaded = await countingListens(() => importUserModule(file!, 'TSPUMA_ERR_APP_LOAD'));
    } finally {
      done?.();
    }
    stackMapper = COMPILED.test(file) && typeof Error.prepareStackTrace === 'function' && Error.prepareStackTrace !== prepare;
    mod = loaded.value;
    ownListens = loaded.where;
    exported = pickExport(mod);
    if (exported === undefined) {
      const hint =
        loaded.listens > 0
          ? 'it started a server of its own while loading (app.listen() or server.listen()): export the app instead (`export default app`) and leave listening to tspuma (-b, PORT)'
          : 'add `export default` for the app (an Express app, a Hono app, a fetch handler or a (req, res) function)';
      throw new TspumaError('TSPUMA_ERR_APP_SHAPE', { path: file, got: `no default export (its exports: ${Object.keys(mod).join(', ') || 'none'}); ${hint}` });
    }
  }
  const kind = detectKind(exported);
  if (kind === null) {
    throw new TspumaError('TSPUMA_ERR_APP_SHAPE', { path: file ?? `given inline (${source})`, got: showValue(exported) });
  }
  const where = file ?? `given inline (${source})`;
  return { adapted: { ...adapt(exported, kind), ...longLived(mod, exported, where) }, hooks: appHooks(mod, exported, where), file, ...(ownListens.length > 0 ? { ownListens } : {}), ...(stackMapper ? { stackMapper: true as const } : {}) };
}

/** What a `websocket` export that is a WebSocket server of the app's own is told. */
const SERVER_OBJECT =
  "an object of handlers (accept, open, message, close), not a server object (tspuma calls those as handlers); to serve upgrades with a WebSocket server of the app's own, export `upgrade(req, socket, head)` instead: for ws, `wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))` with `new WebSocketServer({ noServer: true })` (docs/websockets.md)";

/**
 * The app's handlers for upgrades: `websocket` and `upgrade`, as named exports of the module or
 * properties of a default-exported object (Bun's `{ fetch, websocket }` shape).
 */
function longLived(mod: Record<string, unknown>, exported: unknown, where: string): Pick<Adapted, 'websocket' | 'upgrade'> {
  const from = (name: string): unknown => mod[name] ?? (exported !== null && typeof exported === 'object' ? (exported as Record<string, unknown>)[name] : undefined);
  const websocket = from('websocket');
  const upgrade = from('upgrade');
  if (websocket !== undefined) {
    const ok = websocket !== null && typeof websocket === 'object' && ['accept', 'open', 'message', 'close'].every((k) => (websocket as Record<string, unknown>)[k] === undefined || typeof (websocket as Record<string, unknown>)[k] === 'function');
    if (!ok) throw new TspumaError('TSPUMA_ERR_APP_HANDLER', { path: where, name: 'websocket', got: showValue(websocket), expected: 'an object whose accept, open, message and close, where given, are functions' });
    // A server object (ws's WebSocketServer: its close() would be called as the close handler):
    // one that takes upgrades itself, or an EventEmitter with no handler but close. An app's own
    // EventEmitter with handler methods (a chat room) is taken.
    const own = websocket as Record<string, unknown>;
    const server = typeof own.handleUpgrade === 'function' || (websocket instanceof EventEmitter && !['accept', 'open', 'message'].some((k) => typeof own[k] === 'function'));
    if (server) throw new TspumaError('TSPUMA_ERR_APP_HANDLER', { path: where, name: 'websocket', got: `an instance of ${(own.constructor as { name?: string } | undefined)?.name || 'a server class'}`, expected: SERVER_OBJECT });
  }
  if (upgrade !== undefined && typeof upgrade !== 'function') {
    throw new TspumaError('TSPUMA_ERR_APP_HANDLER', { path: where, name: 'upgrade', got: showValue(upgrade), expected: 'a function (req, socket, head)' });
  }
  return { ...(websocket ? { websocket: websocket as WebSocketHandler } : {}), ...(upgrade ? { upgrade: upgrade as UpgradeHandler } : {}) };
}
