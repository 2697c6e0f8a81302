// Whether a position in a script is inside a `try { ... }` block (not its catch or finally), read
// from the script's text between a function's start and the position: how a capture tells that
// the app's own code caught a throw (a cache miss's JSON.parse in a try), so a later 5xx the app
// answered on purpose is not blamed on it. A lexical scan: strings, template literals and
// comments are skipped; a regular expression literal holding an unbalanced brace can mislead
// it, and then the answer is only a note's wording. Also, from a function's first characters,
// whether it is an async arrow (whose frame's receiver V8 reports wrongly).

/** Scripts longer than this between the start and the position are not scanned (the answer is false). */
export const MAX_SCAN = 256 * 1024;

/** The offset of a 0-based line and column in `source`, or -1. */
export function offsetOf(source: string, line0: number, col0: number): number {
  let offset = 0;
  for (let l = 0; l < line0; l++) {
    const nl = source.indexOf('\n', offset);
    if (nl < 0) return -1;
    offset = nl + 1;
  }
  return offset + col0 <= source.length ? offset + col0 : -1;
}

/** Whether `at` is inside a try block opened after `from` (both offsets in `source`). */
export function insideTry(source: string, from: number, at: number): boolean {
  if (from < 0 || at < from || at - from > MAX_SCAN) return false;
  const open: boolean[] = []; // per open brace: whether it opened a try block
  const templates: number[] = []; // depth of `open` at each `${` of a template literal
  let word = '';
  let lastWord = '';
  let i = from;
  const skipString = (quote: string) => {
    for (i++; i < at && source[i] !== quote && source[i] !== '\n'; i++) if (source[i] === '\\') i++;
  };
  const skipTemplate = (): boolean => {
    // From inside a template literal: to its end (false) or to a `${` (true).
    for (; i < at; i++) {
      const c = source[i];
      if (c === '\\') i++;
      else if (c === '`') return false;
      else if (c === '$' && source[i + 1] === '{') {
        i++;
        return true;
      }
    }
    return false;
  };
  for (; i < at; i++) {
    const c = source[i]!;
    if (/[\w$]/.test(c)) {
      word += c;
      continue;
    }
    if (word) {
      lastWord = word;
      word = '';
    }
    if (c === '/' && source[i + 1] === '/') {
      const nl = source.indexOf('\n', i);
      i = nl < 0 ? at : nl;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? at : end + 1;
    } else if (c === '"' || c === "'") {
      skipString(c);
      lastWord = '';
    } else if (c === '`') {
      i++;
      if (skipTemplate()) {
        templates.push(open.length);
        open.push(false);
      }
      lastWord = '';
    } else if (c === '{') {
      open.push(lastWord === 'try');
      lastWord = '';
    } else if (c === '}') {
      open.pop();
      if (templates.length > 0 && templates[templates.length - 1] === open.length) {
        templates.pop();
        i++;
        if (skipTemplate()) {
          templates.push(open.length);
          open.push(false);
        }
      }
      lastWord = '';
    } else if (!/\s/.test(c)) lastWord = '';
  }
  return open.includes(true);
}

/**
 * Whether the function whose text starts at `at` in `source` is an async arrow function
 * (`async (c) => …`, `async c => …`). V8 reports the caller's receiver as `this` in an async
 * arrow's frame (a Hono handler called from its route array shows `this` = that array), though an
 * arrow has no `this` of its own: a dump must not show it as the frame's receiver.
 */
export function isAsyncArrowAt(source: string, at: number): boolean {
  if (at < 0) return false;
  const head = /^async(?:\s+|(?=\())/.exec(source.slice(at, at + 16));
  if (!head) return false;
  let i = at + head[0].length;
  if (source[i] === '(') {
    let depth = 0;
    for (const end = Math.min(source.length, i + MAX_SCAN); i < end; i++) {
      const ch = source[i];
      if (ch === '(') depth++;
      else if (ch === ')' && --depth === 0) break;
    }
    if (depth !== 0) return false;
    i++;
  } else {
    const name = /^[\p{L}\p{Nl}$_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}$_]*/u.exec(source.slice(i, i + 256));
    if (!name) return false;
    i += name[0].length;
  }
  return /^\s*=>/.test(source.slice(i, i + 64));
}
