// Unit: the lexical scan that tells whether a throw's position is inside the app's own try block
// (diagnostics/try-scan.ts): try bodies count, catch and finally bodies do not, and braces in
// strings, template literals and comments are not blocks. And the scan that tells an async arrow (isAsyncArrowAt).
import { describe, expect, it } from 'vitest';
import { insideTry, offsetOf } from '../../diagnostics/try-scan.js';

/** Whether the marker `@` in src is inside a try block (the marker removed first). */
function at(src: string): boolean {
  const i = src.indexOf('@');
  const text = src.slice(0, i) + src.slice(i + 1);
  return insideTry(text, 0, i);
}

describe('insideTry', () => {
  it('is true inside a try body, also nested in other blocks, and false in its catch and finally and after it', () => {
    expect(at('function f(k) { try { return @JSON.parse(k); } catch { return undefined; } }')).toBe(true);
    expect(at('function f() { if (a) { try { for (;;) { @x(); } } catch (e) {} } }')).toBe(true);
    expect(at('function f() { try { x(); } catch (e) { @throw e; } }')).toBe(false);
    expect(at('function f() { try { x(); } finally { @y(); } }')).toBe(false);
    expect(at('function f() { try { x(); } catch {} @y(); }')).toBe(false);
    expect(at('function f() { @x(); }')).toBe(false);
  });

  it('ignores braces and the word try in strings, template literals (with ${} inside) and comments', () => {
    expect(at('function f() { const s = "try {"; /* try { */ // try {\n @x(); }')).toBe(false);
    expect(at('function f() { const t = `try { ${"}"} ${ {a: 1}.a }`; @x(); }')).toBe(false);
    expect(at('function f() { try { const t = `}${ "}" }`; @x(); } catch {} }')).toBe(true);
    expect(at("function f() { const entry = 'retry'; { @x(); } }")).toBe(false);
  });

  it('finds offsets by 0-based line and column, and refuses a position before the start', () => {
    expect(offsetOf('ab\ncd\nef', 2, 1)).toBe(7);
    expect(offsetOf('ab', 3, 0)).toBe(-1);
    expect(insideTry('try { x }', 5, 2)).toBe(false);
  });
});

describe('isAsyncArrowAt', () => {
  it('is true for async arrows (with and without parentheses, nested defaults) and false for async functions, methods and plain arrows', async () => {
    const { isAsyncArrowAt } = await import('../../diagnostics/try-scan.js');
    const at = (src: string) => isAsyncArrowAt(src, 0);
    expect(['async (c) => c.json({})', 'async c => 1', 'async (a = f(1), { b } = g()) =>\n  {}', 'async(x)=>x'].map(at)).toEqual([true, true, true, true]);
    expect(['async function x() {}', 'async checkout(items) {}', '(c) => c', 'asyncThing => 1', 'async (a'].map(at)).toEqual([false, false, false, false, false]);
  });
});
