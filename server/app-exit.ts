// When the app ends the process itself: process.exit() called by the app's code (a licence or
// config check, a "log and exit" uncaughtException handler) while it loads or serves. Node exits
// at once, so tspuma's graceful stop never runs; this module's wrapper of process.exit writes the
// last line first, synchronously: the exit code, the app's call site, what the process was doing
// and the requests in flight it cuts (with -d, also a dump of the call). tspuma's own exits (its
// frames call process.exit) pass through untouched.
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook.js';
import type { InFlight } from './request-lifecycle.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** tspuma's package folder: this file is in server/ there, or in dist/server/. */
const PARENT = dirname(HERE);
const ROOT = PARENT.endsWith(`${sep}dist`) ? dirname(PARENT) : PARENT;
const OWN = ['server', 'diagnostics', 'inspector', 'dist'].map((d) => `${join(ROOT, d)}${sep}`);

/** Most requests in flight the line names. */
const IN_FLIGHT_SHOWN = 5;

const EXIT_NOTE = 'nothing was thrown: the app called process.exit(), which ends the process at once (requests in flight are cut, no graceful stop); the frames are the call\'s, from its stack, and values are not obtainable';

interface Watch {
  log: Logger;
  diagnostics: DiagnosticsHook | null;
  /** "" in single mode, "Worker 0 (PID: 12): " in a worker. */
  who: string;
  inFlight: (() => InFlight[]) | null;
  /** What the process was doing: "loading the app", "serving". */
  doing: string;
}

let watch: Watch | null = null;

/** A stack frame's place, from one `    at …` line of a stack text. */
export interface ExitFrame {
  name: string | null;
  file: string;
  line: number;
}

/** The frames of a stack text (the wrapper's own already left out by captureStackTrace). */
export function framesOf(stack: string): ExitFrame[] {
  const out: ExitFrame[] = [];
  for (const raw of stack.split('\n')) {
    const m = /^\s+at (?:async )?(?:(.*?) \()?(.+?):(\d+):\d+\)?$/.exec(raw);
    if (!m) continue;
    let file = m[2]!;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        /* left as written */
      }
    }
    out.push({ name: m[1] ?? null, file, line: Number(m[3]) });
  }
  return out;
}

function isOwn(file: string): boolean {
  return OWN.some((dir) => file.startsWith(dir));
}

function isNode(file: string): boolean {
  return file.startsWith('node:') || file.startsWith('internal/') || !isAbsolute(file);
}

function shown(f: ExitFrame): string {
  const rel = relative(process.cwd(), f.file);
  const file = rel.startsWith('..') ? f.file : rel;
  return `${file}:${f.line}${f.name ? ` (${f.name})` : ''}`;
}

/**
 * Who called process.exit, from the frames above the call: null when tspuma did (its own frame is
 * the first that is not node's); else the first frame outside tspuma and node, and the first
 * frame of the app's own code when that is another (a library's exit called from the app).
 */
export function exitCaller(frames: readonly ExitFrame[]): { at: ExitFrame | null; app: ExitFrame | null } | null {
  const first = frames.find((f) => !isNode(f.file));
  if (first && isOwn(first.file)) return null;
  const app = frames.find((f) => !isNode(f.file) && !isOwn(f.file) && !f.file.includes(`${sep}node_modules${sep}`)) ?? null;
  return { at: first ?? null, app: app === first ? null : app };
}

/** The last line for an exit the app called. */
export function exitLine(code: unknown, caller: { at: ExitFrame | null; app: ExitFrame | null }, doing: string, inFlight: readonly InFlight[], who = ''): string {
  const where = caller.at ? ` at ${shown(caller.at)}${caller.app ? `, called from ${shown(caller.app)}` : ''}` : ' (its call site is unknown: no frame outside tspuma and node)';
  const requests = inFlight.slice(0, IN_FLIGHT_SHOWN).map((r) => `${r.method} ${r.url} (${r.ms} ms)`);
  const more = inFlight.length > IN_FLIGHT_SHOWN ? `, and ${inFlight.length - IN_FLIGHT_SHOWN} more` : '';
  const cut = requests.length > 0 ? `; requests in flight, cut without an answer: ${requests.join(', ')}${more}` : ' (no request was in flight)';
  const codeText = code === undefined ? '' : String(code);
  return `- ${who}Stopped: the app called process.exit(${codeText})${where} while ${doing}${doing === 'serving' ? cut : ''}. tspuma's graceful stop did not run.`;
}

/**
 * Wraps process.exit once (the CLI, before the app loads). `who` prefixes the line in a worker.
 * Later calls update what is logged and dumped through.
 */
export function watchAppExit(log: Logger, diagnostics: DiagnosticsHook | null, who = ''): void {
  if (watch) {
    Object.assign(watch, { log, diagnostics, who });
    return;
  }
  watch = { log, diagnostics, who, inFlight: null, doing: 'loading the app' };
  const original = process.exit;
  const exit = function exit(this: NodeJS.Process, code?: number | string | null): never {
    const w = watch;
    if (w) {
      try {
        report(w, code, exit);
      } catch {
        /* the exit below must happen */
      }
    }
    return original.call(this, code as number | undefined);
  } as typeof process.exit;
  process.exit = exit;
}

/** From now on the app is serving: the line names the requests in flight. */
export function exitWatchServing(inFlight: () => InFlight[]): void {
  if (!watch) return;
  watch.inFlight = inFlight;
  watch.doing = 'serving';
}

function report(w: Watch, code: unknown, exit: (...args: never[]) => unknown): void {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  // An app may lower the limit (a speed setting); the call site is what this line is for.
  Error.stackTraceLimit = 30;
  try {
    Error.captureStackTrace(holder, exit);
  } finally {
    Error.stackTraceLimit = limit;
  }
  const caller = exitCaller(framesOf(holder.stack ?? ''));
  if (!caller) return;
  const inFlight = w.inFlight?.() ?? [];
  const line = exitLine(code, caller, w.doing, inFlight, w.who);
  const failed = code !== undefined && code !== 0 && code !== '0';
  w.log[failed ? 'fatal' : 'warn']({ exitCode: code ?? 0, calledAt: caller.at ? shown(caller.at) : null, inFlight }, line);
  if (w.diagnostics) {
    // The call as a failure of its own: its frames (from the stack) name the app code that ended the process.
    const err = new Error(`the app called process.exit(${code === undefined ? '' : String(code)}) while ${w.doing}`);
    err.stack = `Error: ${err.message}\n${(holder.stack ?? '').split('\n').slice(1).join('\n')}`;
    w.diagnostics.report(err, { phase: w.doing === 'serving' ? 'app' : 'boot', inFlight, note: EXIT_NOTE, final: true });
  }
}
