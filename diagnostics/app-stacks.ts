// Keeps debug mode's own frames out of the stacks of the errors the app makes. To follow a call into
// the work it starts, debug mode runs that work through a wrapper of its own (call-context.ts: the
// timer functions, process.nextTick; attribution.ts: the request's stream events; the app call
// itself, index.ts): a JavaScript function on the stack, so V8 records it in every Error made
// under it, and `err.stack` read `at Immediate._onImmediate (…/dist/diagnostics/call-context.js)`
// between the app's frame and node's. An app's error tracker (Sentry groups by frames) then saw
// other stacks with -d than without.
//
// Why a filter on Error.prepareStackTrace rather than no wrapper: V8 gives no way to run code
// before and after a callback without a frame (a bound function runs none; a Proxy's trap is a
// frame), and the one without a wrapper, async_hooks, is the per-resource cost call-context.ts
// exists to avoid. The filter takes out only the frames of these three modules, whose every frame
// is such a wrapper; the formatting stays whatever it was (node's own, with or without source
// maps, or the app's: source-map-support's), which gets the call sites without ours.
//
// Error.prepareStackTrace becomes an accessor: the app (or a library) may still set its own; it
// gets wrapped, and reading it back gives what restores it (the `callsites` pattern: save, set
// `(_, s) => s`, read .stack, restore). Error.stackTraceLimit is raised by SPARE while installed
// so that taking ours out leaves as many frames as the app's limit gives without -d; the text is
// cut back to that limit. An app that sets its own limit afterwards gets it as set, uncut.
import { kFormatterInside } from '../server/node-http.js';

/**
 * The files these three modules' frames name: tsc's files (run from dist/ without the build's
 * chunks: the unit tests, a thread) and the chunk the build gives them alone (scripts/chunk-plan.mjs
 * pins them there and fails the build if that chunk holds any other module).
 */
const OWN_MODULES = new Set(['call-context.js', 'attribution.js', 'index.js', 'app-calls.chunk.js'].map((f) => new URL(`./${f}`, import.meta.url).href));

/**
 * Frames captured beyond the app's limit, for ours to be taken out: one, the frame of ours an
 * app's Error is made under (a request event's, attribution.ts; a timer or queue function's, when
 * node's own check throws in it). Each is paid at every Error made in the process wherever the
 * stack is deeper than the app's limit: a frame summary, an optimized frame's read back through its
 * deoptimization data (a muted throw 12 frames deep: 108,354 instructions with 4, bench/README.md
 * session 18). With two of ours nested (a request event emitted inside another's listener) and
 * both within the app's limit, the text has one frame fewer than without -d.
 */
export const SPARE = 1;

type Prepare = (error: Error, trace: NodeJS.CallSite[]) => unknown;

interface Installed {
  /** What node had (its default formatter), restored at uninstall unless the app set another. */
  fallback: Prepare;
  /** The app's (or node's) formatter, called with our frames taken out. */
  inner: unknown;
  /** The app's limit and the one we set in its place. */
  base: number;
  raised: number;
}

let installed: Installed | null = null;
/** The wrapper made for each formatter, and back. */
const wrapperOf = new WeakMap<object, Prepare>();
const innerOf = new WeakMap<object, unknown>();

/** Is this call site one of debug mode's wrappers? */
export function isOwnFrame(site: NodeJS.CallSite): boolean {
  const file = site.getFileName();
  return file !== undefined && file !== null && OWN_MODULES.has(file);
}

function withoutOwnFrames(trace: NodeJS.CallSite[]): NodeJS.CallSite[] {
  if (!Array.isArray(trace)) return trace;
  let out = trace;
  if (trace.some(isOwnFrame)) out = trace.filter((site) => !isOwnFrame(site));
  const state = installed;
  if (state !== null && Error.stackTraceLimit === state.raised && out.length > state.base) out = out.slice(0, state.base);
  return out;
}

function wrap(inner: Prepare): Prepare {
  let wrapper = wrapperOf.get(inner);
  if (wrapper === undefined) {
    wrapper = function prepareStackTrace(this: unknown, error: Error, trace: NodeJS.CallSite[]): unknown {
      return Reflect.apply(inner, this, [error, withoutOwnFrames(trace)]);
    };
    // node-http.ts formats node:http's abort error itself when node's formatter is the one inside.
    Object.defineProperty(wrapper, kFormatterInside, { value: inner });
    wrapperOf.set(inner, wrapper);
    innerOf.set(wrapper, inner);
  }
  return wrapper;
}

/**
 * Takes debug mode's frames out of every stack text from now on. Does nothing on a node that does
 * not expose its default formatter (Error.prepareStackTrace undefined: before 20.? / 21.?), where
 * replacing it would lose node's own formatting (source maps).
 */
export function installAppStacks(): void {
  if (installed !== null) return;
  const descriptor = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
  const current = descriptor?.value as unknown;
  if (!descriptor || !('value' in descriptor) || typeof current !== 'function') return;
  const limit = Error.stackTraceLimit;
  const base = typeof limit === 'number' && limit >= 0 ? limit : 10;
  const state: Installed = { fallback: current as Prepare, inner: current, base, raised: base + SPARE };
  installed = state;
  Object.defineProperty(Error, 'prepareStackTrace', {
    configurable: true,
    enumerable: false,
    get: () => wrap(typeof state.inner === 'function' ? (state.inner as Prepare) : state.fallback),
    set: (value: unknown) => {
      state.inner = value !== null && (typeof value === 'object' || typeof value === 'function') && innerOf.has(value) ? innerOf.get(value) : value;
    },
  });
  if (typeof limit === 'number') Error.stackTraceLimit = state.raised;
}

/** Puts Error.prepareStackTrace back as a plain value (the app's, if it set one) and the limit as the app had it. */
export function uninstallAppStacks(): void {
  const state = installed;
  if (state === null) return;
  installed = null;
  Object.defineProperty(Error, 'prepareStackTrace', { configurable: true, enumerable: false, writable: true, value: state.inner });
  if (Error.stackTraceLimit === state.raised) Error.stackTraceLimit = state.base;
}

/** The call sites keepSites was last handed. */
let collected: NodeJS.CallSite[] = [];
const NO_SITES: NodeJS.CallSite[] = [];
/** A formatter that keeps the call sites and formats nothing (callerSites). */
function keepSites(_error: Error, trace: NodeJS.CallSite[]): string {
  collected = Array.isArray(trace) ? trace : NO_SITES;
  return '';
}

/**
 * V8's call sites of the caller's stack, innermost first, at most `limit`: each site's file (getFileName(): a path or a file: URL, null when none) and
 * position are read from it, with no text formatted and no source map read (a few microseconds,
 * where a pause to read the same frames costs a few hundred). The app's formatter and limit are
 * put back as they were.
 */
export function callerSites(limit: number): NodeJS.CallSite[] {
  const formatter = Error.prepareStackTrace;
  const appLimit = Error.stackTraceLimit;
  const holder: { stack?: unknown } = {};
  collected = NO_SITES;
  try {
    Error.prepareStackTrace = keepSites;
    Error.stackTraceLimit = limit;
    Error.captureStackTrace(holder, callerSites);
    void holder.stack;
  } finally {
    Error.stackTraceLimit = appLimit;
    Error.prepareStackTrace = formatter;
  }
  const sites = collected;
  collected = NO_SITES;
  return sites;
}
