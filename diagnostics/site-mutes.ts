// Throw sites debug mode has already captured, muted for the rest of their window: the function
// that threw is blackboxed (Debugger.setBlackboxedRanges) in capture's session, so V8 does not
// pause at its next throws, which then cost about what a plain throw costs instead of a pause
// (measured in-process: a pause that resumes at once ~90x a plain throw, a throw in a blackboxed
// function ~2x). Repeats are still counted where they are reported (diagnostics/index.ts matches
// them to the first dump by kind). Only the muted function itself runs unoptimized from then on
// (see mute and endOf).
//
// V8 skips the pause for a throw it predicts is caught when the top frame's function is
// blackboxed, and for one it predicts is uncaught only when every frame's is; those, and throws
// while another session (DevTools, probes) has the Debugger on (V8 blackboxes only what every
// session does), still pause and take capture's repeat path. A muted function's other throw
// sites are muted with it: a report that finds no capture while anything is muted unmutes
// everything (unmuteAll), so the next throw there is captured.
//
// A mute lasts the site's window, and another window while the site keeps repeating: at a window's
// end, a function whose dump's count grew meanwhile stays muted (the sinks hold that dump for the
// process's life, so the pause a lifted mute brings at its next throw would only count one more
// repeat and mute it again: a pause that builds every frame's scopes, about 5 million instructions,
// once a window per hot site). A site that went quiet is unmuted, and its function optimized again.
//
// Telling which muted site an unpaused throw came from costs its stack text (node formats every
// frame through source maps: ~140 µs a throw, measured under -d). A muted function whose text
// holds one `throw new` and no other `throw` can throw an error of its dump's shape (class and
// message, digits aside) at one place only, so such an error is matched to that site by its
// shape (shapeSite) and its stack is never formatted. The scan is lexical and errs one way: a
// `throw` in a comment or a string only makes the function fall back to the stack.

import { MAX_SCAN, offsetOf } from './try-scan.js';

/** A script position, as the protocol gives it (0-based). */
export interface Position {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
}

/** An error's shape: its class and message with digits as `#` ("Error: user # not found"). */
export function shapeOf(err: unknown): string | null {
  if (err === null || typeof err !== 'object') return null;
  try {
    const e = err as { name?: unknown; message?: unknown };
    return `${String(e.name ?? 'Error')}: ${String(e.message ?? '').slice(0, 300).replace(/\d+/g, '#')}`;
  } catch {
    return null; // a getter that throws
  }
}

/** What a muted function's one throw makes: matched by shape instead of by stack text. */
export interface OneThrow {
  /** shapeOf() of the captured error. */
  shape: string;
  /** The site of its dump (file:line). */
  site: string;
}

interface Muted {
  /** Just before the function's start: V8 counts a range from after its first position. */
  from: Position;
  /** The function's end. */
  to: Position;
  timer: NodeJS.Timeout;
  /** Set when the function's text has exactly one `throw`, a `throw new`. */
  one: OneThrow | null;
  /** The dump site of the repeat that muted it. */
  site: string | null;
  /** That dump's count when this window began (undefined: none known): a window ends in another while it grows. */
  seen: number | undefined;
}

/** A script's functions as Profiler.getBestEffortCoverage gives them (the first range is the function's own). */
interface Coverage {
  scriptId: string;
  functions: { ranges: { startOffset: number; endOffset: number }[] }[];
}

/** Same-thread protocol calls (capture.ts's post). */
export type Post = <T = unknown>(method: string, params?: object) => T;

const before = (a: Position, b: Position) => a.lineNumber < b.lineNumber || (a.lineNumber === b.lineNumber && a.columnNumber < b.columnNumber);
const END_OF_SCRIPT = 1e9;

export class SiteMutes {
  private readonly muted = new Map<string, Muted>();

  constructor(
    private readonly post: Post,
    /** How long a function stays muted (capture's per-site window). */
    private readonly windowMs: number,
    /** A script's text by id (null when it cannot be read): for the one-throw scan. */
    private readonly source: (scriptId: string) => string | null = () => null,
    /** How many times a dump site's failure has happened (undefined: no dump of it held): see windowEnded. */
    private readonly count: (site: string) => number | undefined = () => undefined,
  ) {}

  get size(): number {
    return this.muted.size;
  }

  /** Whether the function starting at `fn` is muted now. */
  has(fn: Position): boolean {
    return this.muted.has(key(fn));
  }

  /** Whether the function a repeat at this dump site muted is muted now. */
  hasSite(site: string): boolean {
    for (const m of this.muted.values()) if (m.site === site) return true;
    return false;
  }

  /**
   * The dump site of an unpaused error of this shape, when exactly one muted function can throw
   * it (see the header); undefined when none or several can (the caller reads the stack).
   */
  shapeSite(shape: string | null): string | undefined {
    if (shape === null) return undefined;
    let site: string | undefined;
    for (const m of this.muted.values()) {
      if (m.one?.shape !== shape) continue;
      if (site !== undefined) return undefined;
      site = m.one.site;
    }
    return site;
  }

  /**
   * Mutes the function starting at `fn` (a paused call frame's functionLocation) for the window.
   * False when it cannot be (no breakable location in it): the site keeps pausing. `thrown`: the
   * error captured there and its dump's site, for shapeSite().
   */
  mute(fn: Position, thrown: { error: unknown; site: string | null } | null = null): boolean {
    const k = key(fn);
    if (this.muted.has(k)) return true;
    // The function gets V8's break information (as any function this call looks through), so it
    // is no longer inlined into its callers: a throw in it then has it as the top frame's only
    // function, which is what V8 checks against the blackboxed ranges. It also runs unoptimized
    // from here on; nothing else in its script is touched (see endOf).
    let own: Position[];
    try {
      own = this.post<{ locations: Position[] }>('Debugger.getPossibleBreakpoints', { start: fn, restrictToFunction: true }).locations;
    } catch {
      return false; // not a script V8 can say this of (wasm, a collected one): the site keeps pausing
    }
    const last = own[own.length - 1];
    const source = this.source(fn.scriptId);
    if (!last || source === null) return false;
    const end = bracesAfter(source, offsetOf(source, last.lineNumber, last.columnNumber)) ?? this.endOf(fn, source);
    if (end === null) return false;
    const from =
      fn.columnNumber > 0 || fn.lineNumber === 0
        ? { scriptId: fn.scriptId, lineNumber: fn.lineNumber, columnNumber: Math.max(0, fn.columnNumber - 1) }
        : { scriptId: fn.scriptId, lineNumber: fn.lineNumber - 1, columnNumber: END_OF_SCRIPT };
    // V8 asks whether a function is blackboxed with its start and end positions: a range up to
    // its end holds it (and its closures), and no function that starts before it or ends after it.
    const to = { scriptId: fn.scriptId, ...positionAt(source, end) };
    const shape = thrown?.site ? shapeOf(thrown.error) : null;
    const one = shape !== null && oneThrowNew(source, fn, to) ? { shape, site: thrown!.site! } : null;
    const site = thrown?.site ?? null;
    this.muted.set(k, { from, to, timer: this.window(k), one, site, seen: site !== null ? this.count(site) : undefined });
    this.apply(fn.scriptId);
    return true;
  }

  /**
   * The source offset where the function starting at `fn` ends, from the profiler's best-effort
   * coverage (every function's range, read off V8's function records: 55-90 ms in a server
   * process at a load of 28, so only where bracesAfter cannot tell). Not from
   * Debugger.getPossibleBreakpoints past the function: V8 gives break information to every
   * function that call looks through, and never optimizes such a function again (asked for the
   * next break location after the function, it took optimization from every function after it in
   * its file, the app's other handlers included, for the process's life). Null when it cannot be told.
   */
  private endOf(fn: Position, source: string): number | null {
    const at = offsetOf(source, fn.lineNumber, fn.columnNumber);
    if (at < 0) return null;
    let scripts: Coverage[];
    try {
      scripts = this.post<{ result: Coverage[] }>('Profiler.getBestEffortCoverage').result;
    } catch {
      return null; // no profiler in this build: the site keeps pausing
    }
    let best: { startOffset: number; endOffset: number } | null = null;
    for (const f of scripts.find((s) => s.scriptId === fn.scriptId)?.functions ?? []) {
      const r = f.ranges[0];
      // The script's top level is the range over the whole source. A function can start at offset
      // 0 too: tsx drops a file's leading comments, and the app's first function begins its script.
      if (!r || (r.startOffset === 0 && r.endOffset >= source.length)) continue;
      if (r.startOffset <= at && at < r.endOffset && (best === null || r.endOffset - r.startOffset < best.endOffset - best.startOffset)) best = r;
    }
    // The innermost function holding fn's start is fn's own (none: fn is the script's top level).
    return best?.endOffset ?? null;
  }

  private window(k: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.windowEnded(k), this.windowMs);
    timer.unref();
    return timer;
  }

  /**
   * A muted function's window is over: muted for another one when its dump's count grew in this
   * one (the site still repeats, and its dump is held: a pause there would be one more repeat),
   * else unmuted.
   */
  private windowEnded(k: string): void {
    const m = this.muted.get(k);
    if (!m) return;
    const now = m.site !== null ? this.count(m.site) : undefined;
    if (now !== undefined && m.seen !== undefined && now > m.seen) {
      m.seen = now;
      m.timer = this.window(k);
      return;
    }
    this.unmute(k);
  }

  /** Every muted function pauses again (a throw went uncaptured while something was muted). */
  unmuteAll(): void {
    const scripts = new Set<string>();
    for (const m of this.muted.values()) {
      clearTimeout(m.timer);
      scripts.add(m.from.scriptId);
    }
    this.muted.clear();
    for (const s of scripts) this.apply(s);
  }

  /** Forgets every mute without a protocol call (the session is going away). */
  clear(): void {
    for (const m of this.muted.values()) clearTimeout(m.timer);
    this.muted.clear();
  }

  private unmute(k: string): void {
    const m = this.muted.get(k);
    if (!m) return;
    this.muted.delete(k);
    this.apply(m.from.scriptId);
  }

  /** Sets one script's blackboxed ranges: its muted functions' ranges, sorted, overlaps merged. */
  private apply(scriptId: string): void {
    const ranges = [...this.muted.values()].filter((m) => m.from.scriptId === scriptId).sort((a, b) => (before(a.from, b.from) ? -1 : 1));
    const merged: { from: Position; to: Position }[] = [];
    for (const r of ranges) {
      const prev = merged[merged.length - 1];
      if (prev && !before(prev.to, r.from)) {
        if (before(prev.to, r.to)) prev.to = r.to;
      } else merged.push({ from: r.from, to: r.to });
    }
    const positions = merged.flatMap((r) => [r.from, r.to]).map((p) => ({ lineNumber: p.lineNumber, columnNumber: p.columnNumber }));
    try {
      this.post('Debugger.setBlackboxedRanges', { scriptId, positions });
    } catch {
      /* the script is gone (collected): nothing left to mute there */
    }
  }
}

/** Whether the script text from `from` to `to` holds exactly one `throw`, and it is a `throw new`. */
export function oneThrowNew(source: string | null, from: Position, to: Position): boolean {
  if (source === null) return false;
  const start = offsetOf(source, from.lineNumber, from.columnNumber);
  const end = offsetOf(source, to.lineNumber, to.columnNumber);
  if (start < 0 || end < start || end - start > MAX_SCAN) return false;
  const text = source.slice(start, end + 1);
  const throws = text.match(/(?<![\w$.])throw(?![\w$])/g)?.length ?? 0;
  return throws === 1 && /(?<![\w$.])throw\s+new\s/.test(text);
}

/**
 * Where a function ends, read from its last break location (its implicit return, on its closing
 * brace, or just past its last return statement): past the run of closing braces that follows it
 * (nothing but spaces, semicolons and comments between). The function's own brace is one of them;
 * any after it close enclosing blocks, whose tails hold no function, so a range up to there mutes
 * nothing else. Null when no brace follows (a concise arrow's expression, followed by more code).
 */
export function bracesAfter(source: string, at: number): number | null {
  if (at < 0) return null;
  let end: number | null = null;
  for (let i = at; i < source.length; i++) {
    const c = source[i]!;
    if (c === '}') end = i + 1;
    else if (c === '/' && source[i + 1] === '/') {
      const nl = source.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '/' && source[i + 1] === '*') {
      const close = source.indexOf('*/', i + 2);
      if (close < 0) break;
      i = close + 1;
    } else if (c !== ';' && !/\s/.test(c)) break;
  }
  return end;
}

/** The 0-based line and column of a source offset. */
function positionAt(source: string, offset: number): { lineNumber: number; columnNumber: number } {
  let lineNumber = 0;
  let start = 0;
  for (let nl = source.indexOf('\n'); nl >= 0 && nl < offset; nl = source.indexOf('\n', start)) {
    lineNumber++;
    start = nl + 1;
  }
  return { lineNumber, columnNumber: offset - start };
}

const key = (p: Position) => `${p.scriptId}:${p.lineNumber}:${p.columnNumber}`;
