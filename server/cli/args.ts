// Parses the command line, TSPUMA_OPTS and the environment into option layers, plus the APP and
// -C paths. Flags and variables come from the option records (option-records.ts). Parsing
// only: nothing is started here.
import { TspumaError, didYouMean, showValue } from '../errors.js';
import { VARIABLE_NAMES, variableRecord } from '../environment.js';
import { Expected } from '../option-checks.js';
import { OPTION_NAMES, longFlag, recordOf, shownDefault, type OptionFlag, type OptionName } from '../option-records.js';
import type { Layer } from '../options.js';

export interface ParsedArgs {
  readonly values: Record<string, unknown>;
  readonly origins: Record<string, string>;
  readonly app?: string;
  readonly config?: string;
  readonly help: boolean;
  readonly version: boolean;
}

/** A flag of the command line: an option's flag (its record's OptionFlag) or one that steers the command (-C, -V, -h). */
interface Flag extends OptionFlag {
  readonly long: string;
  /** Option it sets; absent for -C, -h, -V. */
  readonly key?: OptionName;
  /** The default, for --help. */
  readonly dflt?: string;
}

/** Every option's flag, from its record, between the flags that steer the command itself. */
export const FLAGS: readonly Flag[] = [
  { long: 'config', short: 'C', arg: 'FILE', help: 'Config file.', dflt: './tspuma.config.{ts,mts,js,mjs} if present' },
  ...OPTION_NAMES.flatMap((key): Flag[] => {
    const flag = recordOf(key).flag;
    return flag ? [{ ...flag, long: longFlag(key), key, dflt: plain(shownDefault(key)) }] : [];
  }),
  { long: 'version', short: 'V', help: 'Print the version and exit.' },
  { long: 'help', short: 'h', help: 'Print this help and exit.' },
];

/** Markdown → terminal text: backticks dropped. */
function plain(markdown: string): string {
  return markdown.replaceAll('`', '');
}

function usage(problem: string, source: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem, source });
}

/** Parses options the way the command line gives them; `source` names where they came from. */
export function parseArgs(argv: readonly string[], source: string): ParsedArgs {
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  let app: string | undefined;
  let config: string | undefined;
  let help = false;
  let version = false;
  const positional: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      positional.push(token);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    let flag: Flag | undefined;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      inline = eq === -1 ? undefined : token.slice(eq + 1);
      flag = FLAGS.find((f) => f.long === name);
    } else {
      name = token[1]!;
      inline = token.length > 2 ? token.slice(2) : undefined;
      flag = FLAGS.find((f) => f.short === name);
      if (flag && !flag.arg && inline !== undefined) {
        // -dq: a cluster of boolean short flags
        const rest = inline.split('').map((c) => `-${c}`);
        argv = [...argv.slice(0, i + 1), ...rest, ...argv.slice(i + 1)];
        inline = undefined;
      }
    }
    const shown = token.startsWith('--') ? `--${name}` : `-${name}`;
    if (!flag) {
      if (name === 'fork-worker') {
        usage('--fork-worker has no equivalent: Node cannot fork a live heap; --preload loads the app once in the primary to fail fast', source);
      }
      // An option of the config file's spelt as a flag (`--request-timeout 3`): where it is set instead.
      const key = token.startsWith('--') ? name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()) : '';
      if ((OPTION_NAMES as readonly string[]).includes(key) && !recordOf(key as OptionName).flag) {
        const given = inline ?? (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-') ? argv[i + 1] : undefined);
        const example = given !== undefined && /^(?:-?\d+(?:\.\d+)?|true|false)$/.test(given) ? given : '…'; // a number or boolean as given; else its check says what it takes
        const env = recordOf(key as OptionName).env?.[0]?.name;
        usage(`unknown option ${shown}: \`${key}\` has no flag; set \`${key}: ${example}\` in the config file (tspuma.config.ts, or -C FILE)${env ? ` or ${env}` : ''}`, source);
      }
      const names = FLAGS.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]);
      const hint = didYouMean(shown, names);
      usage(`unknown option ${shown}${hint === '' ? '' : `.${hint}`}`, source);
    }
    let value: string | true = true;
    if (flag.optional) {
      value = inline ?? true;
    } else if (flag.arg) {
      if (inline !== undefined) value = inline;
      // A negative number (`--drain-delay -5`) is a value, not a flag: its range error then names it.
      else if (i + 1 < argv.length && (!(argv[i + 1]!.startsWith('-') && argv[i + 1]!.length > 1) || /^-[\d.][\d.:]*$/.test(argv[i + 1]!))) value = argv[++i]!;
      else usage(`${shown} needs a value (${flag.arg})`, source);
    } else if (inline !== undefined) {
      usage(`${shown} takes no value; got ${showValue(inline)}`, source);
    }
    const origin = shown;
    switch (flag.long) {
      case 'help':
        help = true;
        continue;
      case 'version':
        version = true;
        continue;
      case 'config':
        config = value as string;
        continue;
    }
    const text = value === true ? 'true' : flag.read ? flag.read(value) : value;
    values[flag.key!] = flag.repeatable ? [...((values[flag.key!] as string[] | undefined) ?? []), text] : text;
    origins[flag.key!] = origin;
  }
  if (positional.length > 1) usage(`one APP file expected; got ${positional.map((p) => showValue(p)).join(', ')}`, source);
  if (positional.length === 1) app = positional[0];
  return { values, origins, help, version, ...(app !== undefined ? { app } : {}), ...(config !== undefined ? { config } : {}) };
}

/** Splits TSPUMA_OPTS like a shell would: whitespace, single and double quotes, backslashes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) usage(`unterminated ${quote} quote in ${showValue(text)}`, 'TSPUMA_OPTS');
  if (inWord) words.push(cur);
  return words;
}

/** The environment-variable layer, from the records' variables (PORT, WEB_CONCURRENCY, NODE_ENV, ...). */
export function envLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  for (const key of OPTION_NAMES) {
    for (const { name, read } of recordOf(key).env ?? []) {
      const raw = env[name];
      if (raw === undefined || raw.trim() === '') continue;
      let value: unknown;
      try {
        value = read ? read(raw) : raw;
      } catch (err) {
        if (!(err instanceof Expected)) throw err;
        throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', { name, source: 'environment', expected: err.message, value: showValue(raw) });
      }
      // Two variables of one option (TSPUMA_MIN_THREADS, TSPUMA_MAX_THREADS) each set a part of it.
      const prev = values[key];
      const merged = prev !== null && typeof prev === 'object' && value !== null && typeof value === 'object';
      values[key] = merged ? { ...(prev as object), ...(value as object) } : value;
      origins[key] = merged ? `${origins[key]}/${name}` : name;
    }
  }
  return { source: 'environment', values, origins, fromString: true };
}

export function argsLayer(parsed: ParsedArgs, source: string): Layer {
  return { source, values: parsed.values, origins: parsed.origins, fromString: true };
}

export function helpText(version: string): string {
  const lines = [`tspuma ${version}: a Puma-style HTTP server for Node.js`, '', 'Usage: tspuma [options] [APP]', '       tspuma dump [--all-frames] FILE.json   print a saved failure dump as text', '       tspuma ctl COMMAND      talk to a running cluster\'s control app (stats, restarts)', '       tspuma inspect list|stack|profile|heap   DevTools tooling on a running server (DEBUGGING.md)', '       tspuma doctor [-c N] [-d SECONDS] [--no-minify] [APP]   clinic doctor on APP under autocannon (needs clinic installed)', '       tspuma probe log|snapshot|count|list|rm   logpoints and snapshots on a running cluster (DEBUGGING.md, "Probes")', '       tspuma replay DUMP.json  send a dumped request again, stopping at its culprit line', ''];
  lines.push('APP is a .ts, .mts, .js or .mjs file. Default: the config\'s `app`, else ./app.ts, ./app.js, ./index.ts.', '');
  lines.push('Options:');
  for (const f of FLAGS) {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.optional ? `[=${f.arg}]` : f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${names.padEnd(28)} ${f.help}${f.dflt ? ` (default: ${f.dflt})` : ''}`);
  }
  lines.push('', 'Environment:');
  for (const key of OPTION_NAMES) {
    const flag = recordOf(key).flag;
    for (const v of recordOf(key).env ?? []) lines.push(`  ${v.name.padEnd(29)} ${v.help ?? (flag ? `Same as --${longFlag(key)}.` : `Sets ${key}.`)}`);
  }
  for (const name of VARIABLE_NAMES) {
    const help = variableRecord(name).help;
    if (help) lines.push(`  ${name.padEnd(29)} ${help}`);
  }
  lines.push('', 'Precedence: command line > TSPUMA_OPTS > environment variables > config file > defaults.');
  lines.push('Every config key and its default: docs/configuration.md. Signals: docs/architecture.md.');
  return lines.join('\n');
}

