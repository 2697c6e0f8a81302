// The options table of docs/configuration.md, rendered from the option records, and its table of
// the other environment variables tspuma reads (server/environment.ts), each written between its
// markers by `npm run docs:options`.
import { readFileSync, writeFileSync } from 'node:fs';
import { variablesTable } from './environment.js';
import { OPTION_NAMES, longFlag, recordOf, shownDefault, type OptionName } from './option-records.js';

export const TABLE_START = '<!-- options table: generated from server/option-records.ts by `npm run docs:options` -->';
export const TABLE_END = '<!-- end of the options table -->';
export const VARIABLES_START = '<!-- variables table: generated from server/environment.ts by `npm run docs:options` -->';
export const VARIABLES_END = '<!-- end of the variables table -->';

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

/** `doc` with the text between two markers replaced by `table`. */
function between(doc: string, startMarker: string, endMarker: string, what: string, table: string): string {
  const start = doc.indexOf(startMarker);
  const end = doc.indexOf(endMarker);
  if (start === -1 || end < start) throw new Error(`the ${what} markers are missing: ${startMarker} ... ${endMarker}`);
  return `${doc.slice(0, start + startMarker.length)}\n${table}\n${doc.slice(end)}`;
}

/** `doc` with the text between the options table markers replaced by the current table. */
export function withOptionsTable(doc: string): string {
  return between(doc, TABLE_START, TABLE_END, 'options table', optionsTable());
}

/** `doc` with the text between the variables table markers replaced by the current table. */
export function withVariablesTable(doc: string): string {
  return between(doc, VARIABLES_START, VARIABLES_END, 'variables table', variablesTable());
}

/** Rewrites both tables in `file` (docs/configuration.md); true when either changed. */
export function writeOptionsTable(file: string): boolean {
  const before = readFileSync(file, 'utf8');
  const after = withVariablesTable(withOptionsTable(before));
  if (after !== before) writeFileSync(file, after);
  return after !== before;
}
