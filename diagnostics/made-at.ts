// Where an error was made, read from V8's call sites instead of its stack text. Node formats a
// stack text frame by frame through source maps (~140 µs an error under -d, session 21's
// debug16.1): index.ts read a muted repeat's text only to learn where its first frame is. V8 keeps
// an error's frames as call sites until `.stack` is first read; read once with a formatter that
// keeps them, they give the positions of the code as V8 ran it (compiled, not source-mapped), and
// the stack text is then formatted from the same call sites by the formatter in place when the app
// first reads it.
//
// What the app can tell: before that first read, `stack` is an own accessor of the error rather
// than V8's own data property (Object.getOwnPropertyDescriptor shows a getter); the first read or
// write puts a data property back (frozen since, it keeps the accessor, which gives the text it
// formatted once; an heir made by Object.create reads the error's text, as from V8's). An error
// whose text was formatted already, or that cannot take the accessor (frozen, sealed, a
// non-extensible object), gives nothing (null): the caller reads its text. Not cheap either
// (bench/README.md, session 22: ~70,000 instructions an error in the lab, the accessor's map
// change and the call sites' allocation most of it), but a fraction of a formatting through
// source maps.

/** The call sites keep() was last handed for `target` (null: it was not called). */
let kept: NodeJS.CallSite[] | null = null;
/** The error madeKey reads, and the formatter it displaced for the read. */
let target: object | null = null;
let formatter: ((error: Error, trace: NodeJS.CallSite[]) => unknown) | null = null;

/**
 * A formatter that keeps the target's call sites and formats nothing. Another error's text read
 * meanwhile (a stack getter of the app's that reads the error it wraps: ono's lazy stack) is
 * formatted as the formatter in place would, not left undefined for good.
 */
function keep(error: Error, trace: NodeJS.CallSite[]): unknown {
  if (error !== target) return formatter!(error, trace);
  kept = Array.isArray(trace) ? trace : null;
  return undefined;
}

/** A call site's offset in its script (V8's CallSite has it; node's types do not name it). */
type Site = NodeJS.CallSite & { getPosition?: () => number };

/**
 * The positions of the first `depth` frames `err` was made under (file or URL, and the offset in
 * the code V8 ran), joined into one key, innermost first; null when they cannot be read without
 * formatting its stack text (see the header), or when the first has no file. `err.stack` reads
 * as it would have after.
 */
export function madeKey(err: unknown, depth: number): string | null {
  if (err === null || typeof err !== 'object' || !Object.isExtensible(err)) return null;
  const inPlace = Error.prepareStackTrace;
  // With no formatter of node's to hand back to, the text could not be made as node would make it.
  if (typeof inPlace !== 'function') return null;
  kept = null;
  target = err;
  formatter = inPlace;
  try {
    Error.prepareStackTrace = keep;
    void (err as { stack?: unknown }).stack;
  } catch {
    /* a stack getter of the app's: kept stays null */
  } finally {
    Error.prepareStackTrace = inPlace;
    target = null;
    formatter = null;
  }
  const sites = kept as Site[] | null; // set by keep() during the read
  kept = null;
  if (sites === null) return null;
  pending.set(err, sites);
  try {
    Object.defineProperty(err, 'stack', LATER);
  } catch {
    // A proxy that refuses the accessor: its text is formatted now, as the read would have.
    pending.delete(err);
    settleNow(err, inPlace as (error: Error, sites: NodeJS.CallSite[]) => unknown, sites);
    return null;
  }
  let key = '';
  for (let i = 0; i < sites.length && i < depth; i++) {
    const s = sites[i]!;
    const file = s.getFileName();
    // Made in code with no file (eval, new Function, a vm script without one): two such scripts
    // could share an offset, so the key names no place. A caller's frame with none (a builtin's:
    // Array.prototype.map) is only the same kind of frame.
    if (!file) {
      if (i === 0) return null;
      key += '-;';
      continue;
    }
    // The offset, not the line and column: those are worked out from the script's line ends.
    key += `${file}:${s.getPosition?.() ?? `${s.getLineNumber()}:${s.getColumnNumber()}`};`;
  }
  return key;
}

/** Errors whose stack text is still to be formatted, and their call sites. */
const pending = new WeakMap<object, NodeJS.CallSite[]>();

/** `stack` formatted now from the kept call sites (a failure to set it leaves it as it is). */
function settleNow(err: object, formatter: (error: Error, sites: NodeJS.CallSite[]) => unknown, sites: NodeJS.CallSite[]): void {
  try {
    (err as { stack?: unknown }).stack = formatter(err as Error, sites);
  } catch {
    /* a proxy that refuses this too */
  }
}

/** Puts `stack` back as the data property V8 gives it; false when the error was frozen since. */
function settle(err: object, value: unknown): boolean {
  return Reflect.defineProperty(err, 'stack', { value, writable: true, enumerable: false, configurable: true });
}

/** Texts formatted for errors frozen (sealed, made non-extensible) since: read again from here. */
const texts = new WeakMap<object, unknown>();

/**
 * The accessor `stack` is until it is first read (formatted then, from the kept call sites, by the
 * formatter in place) or set. One for every error: an own accessor of a function made for each
 * error would give each its own hidden class (V8 keeps accessor functions in the map).
 */
const LATER: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object) {
    // Read through an heir (Object.create(err)): the error's text, as V8's own property gives it.
    let err: object | null = this;
    while (err !== null && !pending.has(err) && !texts.has(err)) err = Reflect.getPrototypeOf(err);
    if (err === null) return undefined;
    if (texts.has(err)) return texts.get(err);
    const sites = pending.get(err)!;
    pending.delete(err);
    const formatter = Error.prepareStackTrace;
    let value: unknown;
    try {
      value = typeof formatter === 'function' ? formatter(err as Error, sites) : undefined;
    } finally {
      if (!settle(err, value)) texts.set(err, value);
    }
    return value;
  },
  set(this: object, value: unknown) {
    // Frozen since: the write is ignored, as V8 ignores it outside strict code.
    if (settle(this, value)) pending.delete(this);
  },
};
