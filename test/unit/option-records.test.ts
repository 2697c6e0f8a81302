// The option records are the one definition of each option: --help, the environment layer, the
// flags, the docs table, the defaults and the example config are checked against them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import example from '../../examples/tspuma.config.js';
import { FLAGS, envLayer, helpText, parseArgs } from '../../server/cli/args.js';
import { OPTION_NAMES, RECORDS, longFlag, recordOf, shownDefault } from '../../server/option-records.js';
import { TABLE_END, TABLE_START, optionsTable, withOptionsTable } from '../../server/option-table.js';
import { DEFAULTS, peekOption, resolveOptions, type Layer } from '../../server/options.js';

const DOC_FILE = new URL('../../docs/configuration.md', import.meta.url);
/** Flags that steer the command rather than set an option. */
const COMMAND_FLAGS = ['config', 'version', 'help'];
const withFlag = OPTION_NAMES.filter((k) => recordOf(k).flag);

describe('option records', () => {
  it('docs/configuration.md holds the table rendered from the records, one row per option (npm run docs:options rewrites it)', () => {
    const doc = readFileSync(DOC_FILE, 'utf8');
    expect(doc, 'run `npm run docs:options`').toBe(withOptionsTable(doc));
    const table = doc.slice(doc.indexOf(TABLE_START), doc.indexOf(TABLE_END));
    const rowNames = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(rowNames).toEqual(OPTION_NAMES);
    for (const name of OPTION_NAMES) expect(table).toContain(`| \`${name}\` | ${shownDefault(name)} |`);
  });

  it('renders each record\'s flag, variables and doc into its table row', () => {
    const rows = new Map(optionsTable().split('\n').map((line) => [/^\| `(\w+)`/.exec(line)?.[1], line]));
    expect(rows.get('port')).toBe(`| \`port\` | \`null\` | \`-p\`, \`--port PORT\`, \`PORT\` | ${RECORDS.port.doc} |`);
    expect(rows.get('inspect')).toContain('| `--inspect[=HOST:PORT]` |');
    expect(rows.get('bind')).toContain('`--bind URI` (repeatable)');
    expect(rows.get('httpContentLengthLimit')).toContain('| `104857600` (100 MiB) |');
    expect(rows.get('dumpFrames')).toBe(`| \`dumpFrames\` | \`32\` | | ${RECORDS.dumpFrames.doc} |`);
  });

  it('--help shows every option flag with its help text and default, and no flag without a record', () => {
    const help = helpText('1.2.3');
    const optionLines = help.slice(help.indexOf('Options:'), help.indexOf('Environment:')).split('\n').slice(1).filter((l) => l.trim() !== '');
    for (const key of withFlag) {
      const flag = recordOf(key).flag!;
      const line = optionLines.find((l) => l.includes(`--${longFlag(key)}`));
      expect(line, key).toBeTypeOf('string');
      expect(line).toContain(flag.help);
      expect(line).toContain(`(default: ${shownDefault(key).replaceAll('`', '')})`);
      if (flag.short) expect(line).toMatch(new RegExp(`^\\s+-${flag.short}, --${longFlag(key)}\\b`));
      if (flag.arg) expect(line).toContain(flag.optional ? `--${longFlag(key)}[=${flag.arg}]` : `--${longFlag(key)} ${flag.arg}`);
    }
    const shown = optionLines.map((l) => /--([a-z-]+)/.exec(l)![1]);
    expect(shown.filter((f) => !COMMAND_FLAGS.includes(f)).sort()).toEqual(withFlag.map(longFlag).sort());
    expect(FLAGS.map((f) => f.long).sort()).toEqual([...COMMAND_FLAGS, ...withFlag.map(longFlag)].sort());
  });

  it('each flag sets its own option, from its short and its long form', () => {
    for (const key of withFlag) {
      const flag = recordOf(key).flag!;
      const value = flag.arg ? '7' : undefined;
      const long = parseArgs(value === undefined ? [`--${longFlag(key)}`] : [`--${longFlag(key)}=${value}`], 'command line');
      expect(Object.keys(long.values), key).toEqual([key]);
      expect(long.origins[key]).toBe(`--${longFlag(key)}`);
      if (flag.short && value !== undefined) expect(parseArgs([`-${flag.short}`, value], 'x').values).toEqual(long.values);
    }
  });

  it('--help and the environment layer list every variable of the records, each setting its option', () => {
    const help = helpText('1.2.3');
    const environment = help.slice(help.indexOf('Environment:'));
    for (const key of OPTION_NAMES) {
      for (const v of recordOf(key).env ?? []) {
        expect(environment).toMatch(new RegExp(`^  ${v.name} `, 'm'));
        const layer = envLayer({ [v.name]: '3' });
        expect(Object.keys(layer.values), v.name).toEqual([key]);
        expect(layer.origins?.[key]).toBe(v.name);
      }
    }
    const both = envLayer({ TSPUMA_MIN_THREADS: '2', TSPUMA_MAX_THREADS: '9' });
    expect(both.values).toEqual({ threads: { min: 2, max: 9 } });
    expect(both.origins?.threads).toBe('TSPUMA_MIN_THREADS/TSPUMA_MAX_THREADS');
  });

  it('TSPUMA_DUMP_DIR is the dumpDir option\'s variable: the environment layer sets it, and the diagnostics layer no longer reads it by hand', async () => {
    expect(envLayer({ TSPUMA_DUMP_DIR: '/var/dumps' })).toMatchObject({ values: { dumpDir: '/var/dumps' }, origins: { dumpDir: 'TSPUMA_DUMP_DIR' } });
    const { dumpDirFrom } = await import('../../diagnostics/index.js');
    expect(dumpDirFrom({ TSPUMA_DUMP_DIR: '/var/dumps' }, null)).toBeNull();
    expect(dumpDirFrom({ CI: 'true' }, null)).toBe('tspuma-dumps');
  });

  it('every default passes its own check unchanged, except those worked out at boot', () => {
    for (const key of OPTION_NAMES) {
      const r = recordOf(key);
      if (key === 'app' || key === 'bind') continue; // found or derived at boot
      expect(r.check(r.default, false), key).toEqual(r.default);
    }
    // A default shown in words: found or derived at boot (app, bind), or null meaning "on with --debug" (inspect).
    expect(OPTION_NAMES.filter((k) => recordOf(k).defaultText !== undefined)).toEqual(['app', 'bind', 'inspect']);
  });

  it('examples/tspuma.config.ts sets each option it shows to its default, but for the four it shows off', () => {
    const shownOff = ['afterBooted', 'app', 'bind', 'lowlevelErrorHandler'];
    const keys = Object.keys(example);
    expect(keys.length).toBeGreaterThan(40);
    const fromExample = resolveOptions([{ source: 'example', values: { ...example }, fromString: false }]);
    const fromDefaults = resolveOptions([]);
    for (const key of keys.filter((k) => !shownOff.includes(k))) {
      expect(fromExample[key as keyof typeof fromExample], key).toEqual(fromDefaults[key as keyof typeof fromDefaults]);
    }
    for (const key of shownOff) expect(keys).toContain(key);
  });
});

describe('peekOption (debug mode starts before the options are checked)', () => {
  const cli = (values: Record<string, unknown>): Layer => ({ source: 'command line', values, fromString: true });
  const config = (values: Record<string, unknown>): Layer => ({ source: 'config file', values, fromString: false });

  it('reads the highest layer with the option\'s own check, as resolveOptions does', () => {
    expect(peekOption([config({ debug: true }), cli({ debug: 'off' })], 'debug')).toBe(false);
    expect(peekOption([config({ debug: false }), cli({ debug: 'on' })], 'debug')).toBe(true);
    expect(peekOption([cli({ dumpFrames: ' 12 ' })], 'dumpFrames')).toBe(resolveOptions([cli({ dumpFrames: ' 12 ' })]).dumpFrames);
    expect(peekOption([config({ dumpDir: 'dumps' })], 'dumpDir')).toBe('dumps');
  });

  it('falls back to the default when the highest value fails its check (resolveOptions then reports it)', () => {
    expect(peekOption([cli({ dumpFrames: '500' })], 'dumpFrames')).toBe(DEFAULTS.dumpFrames);
    expect(peekOption([config({ redact: '(' })], 'redact')).toBeNull();
    expect(peekOption([cli({ debug: 'maybe' })], 'debug')).toBe(false);
    expect(peekOption([], 'dumpFrames')).toBe(32);
  });
});
