// The options table of docs/configuration.md, rendered from the option records, and written
// between the file's markers by `npm run docs:options`.
import { readFileSync, writeFileSync } from 'node:fs';
import { OPTION_NAMES, longFlag, recordOf, shownDefault, type OptionName } from './option-records.js';

export const TABLE_START = '<!-- options table: generated from server/option-records.ts by `npm run docs:options` -->';
export const TABLE_END = '<!-- end of the options table -->';

/** The "CLI / env" cell: flags with their placeholder, variables, and other ways to set it. */
function waysToSet(name: OptionName): string {
  const r = recordOf(name);
  const ways: string[] = [];
  if (r.flag) {
    if (r.flag.short) ways.push(`\`-${r.flag.short}\``);
    const arg = r.flag.optional ? `[=${r.flag.arg}]` : r.flag.arg ? ` ${r.flag.arg}` : '';
    ways.push(`\`--${longFlag(name)}${arg}\`${r.flag.repeatable ? ' (repeatable)' : ''}`);
  }
  for (const v of r.env ?? []) ways.push(`\`${v.name}\``);
  if (r.alsoFrom) ways.push(r.alsoFrom);
  return ways.join(', ');
}

/** The table, header included, one row per option in record order. */
export function optionsTable(): string {
  const row = (cells: string[]) => ['', ...cells.map((c) => (c === '' ? ' ' : ` ${c} `)), ''].join('|');
  const rows = OPTION_NAMES.map((name) => row([`\`${name}\``, shownDefault(name), waysToSet(name), recordOf(name).doc]));
  return [row(['option', 'default', 'CLI / env', 'meaning']), row(['---', '---', '---', '---']), ...rows].join('\n');
}

/** `doc` with the text between the table markers replaced by the current table. */
export function withOptionsTable(doc: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`the options table markers are missing: ${TABLE_START} ... ${TABLE_END}`);
  return `${doc.slice(0, start + TABLE_START.length)}\n${optionsTable()}\n${doc.slice(end)}`;
}

/** Rewrites the table in `file` (docs/configuration.md); true when it changed. */
export function writeOptionsTable(file: string): boolean {
  const before = readFileSync(file, 'utf8');
  const after = withOptionsTable(before);
  if (after !== before) writeFileSync(file, after);
  return after !== before;
}
