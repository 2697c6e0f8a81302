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
// `(_, s) => s`, read .stack, restore). Error.stackTraceLimit is raised by one for each of our
// frames while it is on the stack (ownFrameIn/ownFrameOut, around the wrappers' calls into the
// app's code, at most SPARE), so that taking ours out leaves as many frames as the app's limit gives
// without -d; the text is cut back to that limit. Raised for the whole process instead, every Error
// made anywhere captured SPARE frames more: in a deep stack (an Express route) each frame is a frame
// summary, an optimized one read back through its deoptimization data (bench/README.md, session 18).
import { kFormatterInside } from '../server/node-http.js';

/**
 * The files these three modules' frames name: tsc's files (run from dist/ without the build's
 * chunks: the unit tests, a thread) and the chunk the build gives them alone (scripts/chunk-plan.mjs
 * pins them there and fails the build if that chunk holds any other module).
 */
const OWN_MODULES = new Set(['call-context.js', 'attribution.js', 'index.js', 'app-calls.chunk.js'].map((f) => new URL(`./${f}`, import.meta.url).href));

/**
 * Most frames captured beyond the app's limit, for ours to be taken out: more than can nest in one
 * stack in practice (one per request event inside another, attribution.ts). Each is paid only by an
 * Error made while that many of our frames are on the stack.
 */
export const SPARE = 4;

type Prepare = (error: Error, trace: NodeJS.CallSite[]) => unknown;

interface Installed {
  /** What node had (its default formatter), restored at uninstall unless the app set another. */
  fallback: Prepare;
  /** The app's (or node's) formatter, called with our frames taken out. */
  inner: unknown;
}

let installed: Installed | null = null;
/** Our frames on the stack now whose raise of the limit stands (ownFrameIn). */
let raisedBy = 0;
/** The app's limit as the outermost of them found it. */
let base = 10;

/**
 * `frames` of ours are about to call the app's code (or node's, which may make an Error under
 * them): the limit goes up by that many while they are on the stack. Returns how many it went up by
 * (0: stacks are not filtered, SPARE frames are counted already, or the app changed the limit under
 * our frames), for ownFrameOut in a finally.
 */
export function ownFrameIn(frames = 1): number {
  if (installed === null || raisedBy + frames > SPARE) return 0;
  const limit = Error.stackTraceLimit;
  if (typeof limit !== 'number') return 0;
  if (raisedBy === 0) base = limit;
  else if (limit !== base + raisedBy) return 0;
  raisedBy += frames;
  Error.stackTraceLimit = limit + frames;
  return frames;
}

/** Those frames are leaving the stack: the limit comes down again, unless the app set its own meanwhile. */
export function ownFrameOut(raised: number): void {
  if (raised === 0 || raisedBy < raised) return;
  raisedBy -= raised;
  if (Error.stackTraceLimit === base + raisedBy + raised) Error.stackTraceLimit = base + raisedBy;
}

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
  // Back to the app's limit: an Error made under our frames captured one more for each.
  const limit = Error.stackTraceLimit;
  const app = raisedBy > 0 && limit === base + raisedBy ? base : limit;
  if (installed !== null && typeof app === 'number' && app >= 0 && out.length > app) out = out.slice(0, app);
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
  const state: Installed = { fallback: current as Prepare, inner: current };
  installed = state;
  raisedBy = 0;
  Object.defineProperty(Error, 'prepareStackTrace', {
    configurable: true,
    enumerable: false,
    get: () => wrap(typeof state.inner === 'function' ? (state.inner as Prepare) : state.fallback),
    set: (value: unknown) => {
      state.inner = value !== null && (typeof value === 'object' || typeof value === 'function') && innerOf.has(value) ? innerOf.get(value) : value;
    },
  });
}

/** Puts Error.prepareStackTrace back as a plain value (the app's, if it set one) and the limit as the app had it. */
export function uninstallAppStacks(): void {
  const state = installed;
  if (state === null) return;
  installed = null;
  Object.defineProperty(Error, 'prepareStackTrace', { configurable: true, enumerable: false, writable: true, value: state.inner });
  if (raisedBy > 0 && Error.stackTraceLimit === base + raisedBy) Error.stackTraceLimit = base;
  raisedBy = 0;
}
