// Where a probe's gate may be compiled into its script by live edit (inspector/probe-edits.ts):
// only before a statement of a statement list whose line holds nothing else before it, with the
// guard at the end of the line above, so that no line and no column of existing code moves.
import { describe, expect, it } from 'vitest';
import { guardPlace, guardText, withGuards } from '../../inspector/probe-edits.js';

/** The 0-based line and column of the first `mark` in source. */
function at(source: string, mark: string): [number, number] {
  const offset = source.indexOf(mark);
  const before = source.slice(0, offset).split('\n');
  return [before.length - 1, before.at(-1)!.length];
}

const ESM = [
  'export function charge(order) {',
  '  const total = order.total * 2;',
  '  if (total > 100) audit(total)',
  '  return total;',
  '}',
  "app.get('/x', (req, res) => res.send(1));",
  'for (const o of orders) { note(o); }',
  'const a = 1; // trailing comment',
  'const b = 2;',
  '',
].join('\n');

describe('guardPlace', () => {
  it('puts the guard after the statement above (or the block\'s {), at the end of its line: the edited source keeps every line and every column', () => {
    for (const [mark, where] of [
      ['total = order', '{'],
      ['total > 100', 'order.total * 2;'],
      ['return total', 'audit(total)'],
    ] as const) {
      const [line, column] = at(ESM, mark);
      const place = guardPlace(ESM, true, line, column, 7)!;
      expect(place, mark).not.toBeNull();
      expect(ESM.slice(place.offset - where.length, place.offset)).toBe(where);
      const edited = withGuards(ESM, [{ offset: place.offset, n: 7 }]);
      const before = ESM.split('\n');
      const after = edited.split('\n');
      expect(after).toHaveLength(before.length);
      for (let i = 0; i < before.length; i++) expect(after[i]!.startsWith(before[i]!), `line ${i + 1}`).toBe(true);
      expect(after[place.line]!.slice(place.column, place.column + 'debugger'.length)).toBe('debugger');
      expect(after[place.line]!.endsWith(guardText(7))).toBe(true);
    }
  });

  it('refuses a place inside a function on the line (a one-line route), inside a loop body, after a comment, at the first statement of a script, or in code that does not parse', () => {
    expect(guardPlace(ESM, true, ...at(ESM, 'res.send(1)'), 1)).toBeNull();
    expect(guardPlace(ESM, true, ...at(ESM, 'note(o)'), 1)).toBeNull();
    expect(guardPlace(ESM, true, ...at(ESM, 'b = 2'), 1)).toBeNull();
    expect(guardPlace(ESM, true, 0, 0, 1)).toBeNull();
    expect(guardPlace('const x = ;\nfoo();\n', true, 1, 0, 1)).toBeNull();
  });

  it('parses a CommonJS file as a function body (a top-level return) and an ES module with top-level await', () => {
    const cjs = 'const x = 1;\nif (!x) return;\nmodule.exports = x;\n';
    expect(guardPlace(cjs, false, 2, 0, 1)).toMatchObject({ line: 1 });
    const esm = 'const x = await load();\nexport default x;\n';
    expect(guardPlace(esm, true, 1, 0, 1)).toMatchObject({ line: 0 });
  });
});
