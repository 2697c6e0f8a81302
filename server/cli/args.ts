// Created by cli.ts for argv, TSPUMA_OPTS and the environment; hands option layers to
// options.ts and the APP / -C paths back to cli.ts. Parsing only, nothing is started here.
import { TspumaError, didYouMean, showValue } from '../errors.js';
import { DEFAULTS, type Layer } from '../options.js';

export interface ParsedArgs {
  readonly values: Record<string, unknown>;
  readonly origins: Record<string, string>;
  readonly app?: string;
  readonly config?: string;
  readonly help: boolean;
  readonly version: boolean;
}

interface Flag {
  readonly long: string;
  readonly short?: string;
  /** Option key it sets; absent for -C, -h, -V. */
  readonly key?: string;
  /** Placeholder when the flag takes a value. */
  readonly arg?: string;
  /** The value is optional and only given inline (--inspect=HOST:PORT). */
  readonly optional?: boolean;
  readonly repeatable?: boolean;
  readonly help: string;
  readonly dflt?: string;
}

export const FLAGS: readonly Flag[] = [
  { long: 'bind', short: 'b', key: 'bind', arg: 'URI', repeatable: true, help: 'Listen on URI: tcp://HOST:PORT[?backlog=N&low_latency=true], unix://PATH, ssl://HOST:PORT?cert=FILE&key=FILE. Repeatable.', dflt: 'tcp://127.0.0.1:9292 (development), tcp://0.0.0.0:9292 (otherwise)' },
  { long: 'port', short: 'p', key: 'port', arg: 'PORT', help: 'Listen on tcp://HOST:PORT; replaces binds from lower-precedence sources.', dflt: 'none' },
  { long: 'threads', short: 't', key: 'threads', arg: 'MIN:MAX', help: 'Most app invocations in flight at once (MAX); a single N means N:N, as in Puma.', dflt: `${DEFAULTS.threads.min}:${DEFAULTS.threads.max}` },
  { long: 'workers', short: 'w', key: 'workers', arg: 'N', help: 'Worker processes sharing the listening sockets (cluster mode); 0 is single mode.', dflt: '0' },
  { long: 'preload', key: 'preload', help: 'Cluster: load the app once in the primary before forking, to fail fast.', dflt: 'off' },
  { long: 'control-url', key: 'controlUrl', arg: 'URI', help: 'Serve the control app (stats, restarts) on tcp://127.0.0.1:PORT or unix://PATH.', dflt: 'none' },
  { long: 'control-token', key: 'controlToken', arg: 'TOKEN', help: 'Token the control app requires.', dflt: 'random, printed at boot' },
  { long: 'state', short: 'S', key: 'state', arg: 'FILE', help: 'Write pid, control URL and token here for `tspuma ctl -S FILE`.', dflt: 'none' },
  { long: 'config', short: 'C', arg: 'FILE', help: 'Config file.', dflt: './tspuma.config.{ts,mts,js,mjs} if present' },
  { long: 'environment', short: 'e', key: 'environment', arg: 'ENV', help: 'Environment name.', dflt: 'development' },
  { long: 'debug', short: 'd', key: 'debug', help: 'Interpreter-level failure dumps (frames, receivers, locals; see DEBUGGING.md).', dflt: 'off' },
  { long: 'inspect', key: 'inspect', arg: 'HOST:PORT', optional: true, help: 'DevTools inspectors: discovery on PORT, the primary on PORT+1, worker i on PORT+2+i; --inspect=off disables.', dflt: 'on with --debug at 127.0.0.1:9229' },
  { long: 'quiet', short: 'q', key: 'quiet', help: 'Log warnings and errors only.', dflt: 'off' },
  { long: 'log-level', key: 'logLevel', arg: 'LEVEL', help: 'trace, debug, info, warn or error (debug adds a line per connection and reactor step).', dflt: 'info' },
  { long: 'log-requests', key: 'logRequests', help: 'Log one line per request.', dflt: 'off' },
  { long: 'pidfile', key: 'pidfile', arg: 'FILE', help: 'Write the pid to FILE; removed at stop.', dflt: 'none' },
  { long: 'tag', key: 'tag', arg: 'NAME', help: 'Name shown in the process title.', dflt: 'none' },
  { long: 'version', short: 'V', help: 'Print the version and exit.' },
  { long: 'help', short: 'h', help: 'Print this help and exit.' },
];

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
      const names = FLAGS.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]);
      usage(`unknown option ${shown}.${didYouMean(shown, names)}`, source);
    }
    let value: string | true = true;
    if (flag.optional) {
      value = inline ?? true;
    } else if (flag.arg) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length && !(argv[i + 1]!.startsWith('-') && argv[i + 1]!.length > 1)) value = argv[++i]!;
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
      case 'threads':
        // Puma: -t N means N:N.
        values.threads = /^\s*\d+\s*$/.test(value as string) ? `${value}:${value}` : value;
        break;
      case 'bind':
        values.bind = [...((values.bind as string[] | undefined) ?? []), value];
        break;
      default:
        values[flag.key!] = value === true ? 'true' : value;
    }
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

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\s*\d+\s*$/.test(raw)) {
    throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', { name, source: 'environment', expected: 'a non-negative integer', value: showValue(raw) });
  }
  return Number(raw);
}

/** The environment-variable layer: PORT, WEB_CONCURRENCY, TSPUMA_MIN/MAX_THREADS, NODE_ENV, TSPUMA_LOG_LEVEL. */
export function envLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  const set = (key: string, value: unknown, origin: string) => {
    values[key] = value;
    origins[key] = origin;
  };
  if (env.PORT !== undefined && env.PORT.trim() !== '') set('port', env.PORT, 'PORT');
  if (env.WEB_CONCURRENCY !== undefined && env.WEB_CONCURRENCY.trim() !== '') set('workers', env.WEB_CONCURRENCY, 'WEB_CONCURRENCY');
  const min = envInteger(env, 'TSPUMA_MIN_THREADS');
  const max = envInteger(env, 'TSPUMA_MAX_THREADS');
  if (min !== undefined || max !== undefined) {
    set('threads', { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) }, min !== undefined && max !== undefined ? 'TSPUMA_MIN_THREADS/TSPUMA_MAX_THREADS' : min !== undefined ? 'TSPUMA_MIN_THREADS' : 'TSPUMA_MAX_THREADS');
  }
  if (env.NODE_ENV !== undefined && env.NODE_ENV.trim() !== '') set('environment', env.NODE_ENV, 'NODE_ENV');
  if (env.TSPUMA_LOG_LEVEL !== undefined && env.TSPUMA_LOG_LEVEL.trim() !== '') set('logLevel', env.TSPUMA_LOG_LEVEL, 'TSPUMA_LOG_LEVEL');
  return { source: 'environment', values, origins, fromString: true };
}

export function argsLayer(parsed: ParsedArgs, source: string): Layer {
  return { source, values: parsed.values, origins: parsed.origins, fromString: true };
}

export function helpText(version: string): string {
  const lines = [`tspuma ${version}: a Puma-style HTTP server for Node.js`, '', 'Usage: tspuma [options] [APP]', '       tspuma dump [--all-frames] FILE.json   print a saved failure dump as text', '       tspuma ctl COMMAND      talk to a running cluster\'s control app (stats, restarts)', '       tspuma inspect list|stack|profile|heap   DevTools tooling on a running server (DEBUGGING.md)', ''];
  lines.push('APP is a .ts, .mts, .js or .mjs file. Default: the config\'s `app`, else ./app.ts, ./app.js, ./index.ts.', '');
  lines.push('Options:');
  for (const f of FLAGS) {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.optional ? `[=${f.arg}]` : f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${names.padEnd(28)} ${f.help}${f.dflt ? ` (default: ${f.dflt})` : ''}`);
  }
  lines.push('', 'Environment:');
  lines.push('  PORT                          Same as --port.');
  lines.push('  WEB_CONCURRENCY               Same as --workers.');
  lines.push('  TSPUMA_MIN_THREADS/MAX_THREADS  threads.min / threads.max.');
  lines.push('  NODE_ENV                      Same as --environment.');
  lines.push('  TSPUMA_LOG_LEVEL              Same as --log-level.');
  lines.push('  TSPUMA_OPTS                   Extra options parsed like the command line, e.g. TSPUMA_OPTS="-q --log-requests".');
  lines.push('  TSPUMA_DUMP_DIR               With -d: write each dump as .json and .txt here (default ./tspuma-dumps when CI=true).');
  lines.push('  TSPUMA_TS_LOADER              How .ts files load: auto (esbuild with a compile cache in an ES-module package, else tsx) or tsx (default: auto).');
  lines.push('', 'Precedence: command line > TSPUMA_OPTS > environment variables > config file > defaults.');
  lines.push('Every config key and its default: docs/configuration.md. Signals: docs/architecture.md.');
  return lines.join('\n');
}

