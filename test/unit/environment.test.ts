// The option records and server/environment.ts own every environment variable tspuma reads: the
// code of server/, diagnostics/ and inspector/ is read for every variable it takes from an
// environment, and each must be an option's variable or a row of VARIABLES (and every row is read).
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText } from '../../server/cli/args.js';
import { VARIABLES, VARIABLE_NAMES, readChoice, readVariable, variableRecord, variablesTable } from '../../server/environment.js';
import { OPTION_NAMES, recordOf } from '../../server/option-records.js';
import { VARIABLES_END, VARIABLES_START, withVariablesTable } from '../../server/option-table.js';
import * as sharedNames from '../../server/shared-names.js';
import { chooseTsLoader } from '../../server/ts-loader.js';
import { ROOT } from '../helpers/cli.js';

const OPTION_VARIABLES = OPTION_NAMES.flatMap((k) => (recordOf(k).env ?? []).map((v) => v.name));

/**
 * Files that index an environment with a key computed at run time, and where its names come from:
 * each such read is checked here by hand, so a new one fails until it is looked at and listed.
 */
const COMPUTED_KEYS: Record<string, string> = {
  'server/cli/args.ts': 'the option records (envLayer)',
  'server/environment.ts': 'the rows themselves (readVariable, readChoice)',
  'server/option-records.ts': 'a Rack env key named in the logRequests doc, not a read',
  'server/systemd.ts': 'ACTIVATION_VARS and the sd_notify list, both literal lists in the file',
  'server/rack.ts': 'a Rack env, not the process environment',
  'server/client-errors.ts': 'a Rack env (DUMP_ENV_KEY), not the process environment',
  'server/request-lifecycle.ts': 'a Rack env (DUMP_ENV_KEY), not the process environment',
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Every variable name the sources read from an environment, with where; and the computed-key reads. */
function readsInSources(): { names: Map<string, string>; computed: Set<string> } {
  const constants = new Map<string, string>();
  for (const [k, v] of Object.entries(sharedNames)) if (typeof v === 'string' && /^[A-Z][A-Z0-9_]*$/.test(v)) constants.set(k, v);
  const names = new Map<string, string>();
  const computed = new Set<string>();
  for (const file of ['server', 'diagnostics', 'inspector'].flatMap(sources)) {
    const text = readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
      .join('\n');
    // env.NAME, env?.NAME, process.env.NAME: a read unless it is assigned (a Rack env's REMOTE_ADDR =).
    for (const m of text.matchAll(/\benv\??\.([A-Z][A-Z0-9_]*)\b(?!\s*=[^=])/g)) names.set(m[1]!, file);
    // env['NAME'], env[SOME_ENV] (a constant of shared-names.ts), env[anything else].
    for (const m of text.matchAll(/\benv\[([^\]]+)\]/g)) {
      const key = m[1]!.trim();
      const literal = /^'([A-Z][A-Z0-9_]*)'$/.exec(key)?.[1];
      if (literal) names.set(literal, file);
      else if (constants.has(key)) names.set(constants.get(key)!, file);
      else computed.add(file);
    }
    // readVariable('NAME', …) and readChoice(NAME_CONSTANT, …): the table's own accessors.
    for (const m of text.matchAll(/\bread(?:Variable|Choice)(?:<[^>]*>)?\(\s*('([A-Z0-9_]+)'|[A-Z0-9_]+)/g)) names.set(m[2] ?? constants.get(m[1]!) ?? m[1]!, file);
  }
  // The computed reads of systemd.ts: its literal lists.
  for (const name of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) {
    expect(readFileSync(join(ROOT, 'server/systemd.ts'), 'utf8')).toContain(`'${name}'`);
  }
  return { names, computed };
}

describe('environment variables', () => {
  it('every variable server/, diagnostics/ and inspector/ read is an option\'s or a row of server/environment.ts, and every row is read', () => {
    const { names, computed } = readsInSources();
    expect(names.size).toBeGreaterThan(20); // the sources were read
    const unowned = [...names].filter(([name]) => !OPTION_VARIABLES.includes(name) && !(name in VARIABLES)).map(([name, file]) => `${name} (${file})`);
    expect(unowned, 'add a record (option-records.ts) or a row (environment.ts)').toEqual([]);
    const systemdLists = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];
    const unread = VARIABLE_NAMES.filter((name) => !names.has(name) && !systemdLists.includes(name));
    expect(unread, 'a row for a variable nothing reads').toEqual([]);
    expect([...computed].sort()).toEqual(Object.keys(COMPUTED_KEYS).sort());
  });

  it('no variable is both an option\'s and a row of its own', () => {
    expect(VARIABLE_NAMES.filter((name) => OPTION_VARIABLES.includes(name))).toEqual([]);
  });

  it('docs/configuration.md holds the variables table rendered from server/environment.ts (npm run docs:options rewrites it)', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    expect(doc, 'run `npm run docs:options`').toBe(withVariablesTable(doc));
    const table = doc.slice(doc.indexOf(VARIABLES_START), doc.indexOf(VARIABLES_END));
    expect([...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1])).toEqual(VARIABLE_NAMES);
    expect(variablesTable()).toContain(`| \`TSPUMA_TS_LOADER\` | you | \`auto\`, \`tsx\` (default \`auto\`). ${VARIABLES.TSPUMA_TS_LOADER.doc} |`);
  });

  it('--help lists each variable a user sets with its help line, and none of those systemd, CI, Node or tspuma set', () => {
    const environment = helpText('1.2.3').slice(helpText('1.2.3').indexOf('Environment:'));
    for (const name of VARIABLE_NAMES) {
      const help = variableRecord(name).help;
      if (variableRecord(name).setBy === 'you') expect(environment).toContain(`  ${name.padEnd(29)} ${help}`);
      else expect(environment).not.toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('readVariable: trimmed text, undefined when unset or blank', () => {
    expect(readVariable('TSPUMA_OPTS', { TSPUMA_OPTS: '  -q ' })).toBe('-q');
    expect(readVariable('TSPUMA_OPTS', { TSPUMA_OPTS: '   ' })).toBe(undefined);
    expect(readVariable('TSPUMA_OPTS', {})).toBe(undefined);
  });

  it('TSPUMA_TS_LOADER is read through its row: default auto, tsx kept, any other value refused naming the variable, the value and the choices', () => {
    expect(readChoice('TSPUMA_TS_LOADER', {})).toBe('auto');
    expect(readChoice('TSPUMA_TS_LOADER', { TSPUMA_TS_LOADER: ' tsx ' })).toBe('tsx');
    expect(() => readChoice('TSPUMA_TS_LOADER', { TSPUMA_TS_LOADER: 'swc' })).toThrow(
      expect.objectContaining({ code: 'TSPUMA_ERR_OPTION_INVALID', params: { name: 'TSPUMA_TS_LOADER', source: 'environment', expected: 'one of auto, tsx', value: '"swc"' } }),
    );
    expect(chooseTsLoader(join(ROOT, 'test/fixtures/spin-app.ts'), { TSPUMA_TS_LOADER: 'tsx' })).toEqual({ kind: 'tsx', reason: 'TSPUMA_TS_LOADER=tsx' });
    expect(() => chooseTsLoader(join(ROOT, 'test/fixtures/spin-app.ts'), { TSPUMA_TS_LOADER: 'swc' })).toThrow(expect.objectContaining({ code: 'TSPUMA_ERR_OPTION_INVALID' }));
  });
});
