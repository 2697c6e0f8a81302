// Created by the CLI (cli/args.ts feeds it layers) and by tests; hands a frozen Options
// object to the launcher, server, binder and reactor. The one place defaults live.
import type { AppInput, Hook, LowlevelErrorHandler } from './app-types.js';
import { parseBind, type BindSpec } from './binder-uri.js';
import { TspumaError, didYouMean, showValue } from './errors.js';

/** What users write in tspuma.config.ts: every key optional. */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export interface TspumaConfig {
  afterBooted?: Hook | Hook[];
  afterStopped?: Hook | Hook[];
  afterWorkerFork?: Hook | Hook[];
  afterWorkerShutdown?: Hook | Hook[];
  beforeFork?: Hook | Hook[];
  beforeRestart?: Hook | Hook[];
  beforeWorkerBoot?: Hook | Hook[];
  beforeWorkerFork?: Hook | Hook[];
  beforeWorkerShutdown?: Hook | Hook[];
  app?: string | AppInput;
  balanceBusyWorkers?: boolean;
  bind?: string | string[];
  bodyBufferSize?: number;
  bodyTimeout?: number;
  controlToken?: string | null;
  controlUrl?: string | null;
  debug?: boolean;
  dumpDir?: string | null;
  dumpFrames?: number;
  environment?: string;
  firstDataTimeout?: number;
  forceShutdownAfter?: number | 'forever' | 'immediately';
  headersTimeout?: number;
  httpContentLengthLimit?: number | null;
  idleTimeout?: number | null;
  /** DevTools inspectors: true, false, "HOST:PORT" or a port; default on with debug at 127.0.0.1:9229. */
  inspect?: boolean | string | number | null;
  logLevel?: 'debug' | 'error' | 'info' | 'trace' | 'warn';
  logRequests?: boolean;
  lowlevelErrorHandler?: LowlevelErrorHandler | null;
  maxKeepAlive?: number;
  outOfBand?: Hook | Hook[];
  persistentTimeout?: number;
  pidfile?: string | null;
  port?: number | null;
  preload?: boolean;
  quiet?: boolean;
  redact?: string | null;
  requestTimeout?: number;
  state?: string | null;
  supportedHttpMethods?: 'any' | string[];
  tag?: string | null;
  upgradedIdleTimeout?: number | null;
  threads?: { min?: number; max?: number };
  workerAutopsyTimeout?: number;
  workerBootTimeout?: number;
  workerCheckInterval?: number;
  workers?: number;
  workerShutdownTimeout?: number;
  workerTimeout?: number;
}

/** The resolved, validated, frozen options every module reads. */
export interface Options {
  readonly afterBooted: readonly Hook[];
  readonly afterStopped: readonly Hook[];
  readonly afterWorkerFork: readonly Hook[];
  readonly afterWorkerShutdown: readonly Hook[];
  readonly beforeFork: readonly Hook[];
  readonly beforeRestart: readonly Hook[];
  readonly beforeWorkerBoot: readonly Hook[];
  readonly beforeWorkerFork: readonly Hook[];
  readonly beforeWorkerShutdown: readonly Hook[];
  readonly app: string | AppInput | undefined;
  /** Directory a relative `app` path is resolved against. */
  readonly appBase: string;
  /** Cluster: a saturated worker closes keep-alive connections so clients move to a freer one. */
  readonly balanceBusyWorkers: boolean;
  readonly bind: readonly BindSpec[];
  /** Control app token; null: a random one is made at boot. */
  readonly controlToken: string | null;
  /** Control app bind (tcp://127.0.0.1:9293 or unix://PATH); null: no control app. */
  readonly controlUrl: BindSpec | null;
  readonly debug: boolean;
  /** Folder for dump files (debug mode); null: TSPUMA_DUMP_DIR, or ./tspuma-dumps when CI=true. */
  readonly dumpDir: string | null;
  readonly dumpFrames: number;
  readonly environment: string;
  readonly firstDataTimeout: number;
  /** Seconds a request head may take from its first byte. */
  readonly headersTimeout: number;
  /** Seconds a body read before the app (up to bodyBufferSize) may take after its head. */
  readonly bodyTimeout: number;
  /** Bodies up to this many bytes are read in full before the app runs; 0 streams every body. */
  readonly bodyBufferSize: number;
  /** Seconds; Infinity for Puma's :forever. */
  readonly forceShutdownAfter: number;
  readonly httpContentLengthLimit: number | null;
  readonly idleTimeout: number | null;
  /** Inspector base address (discovery; +1 the primary; +2+i worker i); null: no inspector. */
  readonly inspect: InspectAddress | null;
  /** quiet lowers it to warn. */
  readonly logLevel: LogLevel;
  readonly logRequests: boolean;
  readonly lowlevelErrorHandler: LowlevelErrorHandler | null;
  readonly maxKeepAlive: number;
  readonly outOfBand: readonly Hook[];
  readonly persistentTimeout: number;
  readonly pidfile: string | null;
  readonly port: number | null;
  /** Cluster: the primary loads the app once before forking, to fail fast. */
  readonly preload: boolean;
  readonly quiet: boolean;
  /** Extra secret-name pattern for dumps, added to the built-in one. */
  readonly redact: string | null;
  readonly requestTimeout: number;
  /** State file (pid, control URL and token) for `tspuma ctl -S`. */
  readonly state: string | null;
  readonly supportedHttpMethods: 'any' | ReadonlySet<string>;
  readonly tag: string | null;
  readonly upgradedIdleTimeout: number | null;
  readonly threads: { readonly min: number; readonly max: number };
  /** Seconds a hung worker's autopsy may take before it is killed anyway; 0: no autopsy. */
  readonly workerAutopsyTimeout: number;
  readonly workerBootTimeout: number;
  readonly workerCheckInterval: number;
  readonly workers: number;
  readonly workerShutdownTimeout: number;
  readonly workerTimeout: number;
  /** Where each option's value came from, for messages ("default", "config file x, key y", ...). */
  readonly sources: Readonly<Record<string, string>>;
}

/** Puma's method list less CONNECT, which node:http delivers as a tunnel, not a request. */
export const DEFAULT_HTTP_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'] as const;

/**
 * Alphabetised defaults. Times are in seconds, as in Puma. Puma's value is used wherever
 * Puma has one; docs/configuration.md explains each.
 */
export const DEFAULTS = Object.freeze({
  afterBooted: [] as Hook[],
  afterStopped: [] as Hook[],
  afterWorkerFork: [] as Hook[],
  afterWorkerShutdown: [] as Hook[],
  app: undefined as string | AppInput | undefined,
  balanceBusyWorkers: false,
  beforeFork: [] as Hook[],
  beforeRestart: [] as Hook[],
  beforeWorkerBoot: [] as Hook[],
  beforeWorkerFork: [] as Hook[],
  beforeWorkerShutdown: [] as Hook[],
  bind: [] as string[],
  bodyBufferSize: 64 * 1024,
  bodyTimeout: 20,
  controlToken: null as string | null,
  controlUrl: null as string | null,
  debug: false,
  dumpDir: null as string | null,
  dumpFrames: 32,
  environment: 'development',
  firstDataTimeout: 30,
  forceShutdownAfter: 'forever' as number | 'forever' | 'immediately',
  headersTimeout: 20,
  httpContentLengthLimit: (100 * 1024 * 1024) as number | null,
  idleTimeout: null as number | null,
  inspect: null as boolean | string | null,
  logLevel: 'info' as LogLevel,
  logRequests: false,
  lowlevelErrorHandler: null as LowlevelErrorHandler | null,
  maxKeepAlive: 999,
  outOfBand: [] as Hook[],
  persistentTimeout: 20,
  pidfile: null as string | null,
  port: null as number | null,
  preload: false,
  quiet: false,
  redact: null as string | null,
  requestTimeout: 60,
  state: null as string | null,
  supportedHttpMethods: [...DEFAULT_HTTP_METHODS] as 'any' | string[],
  tag: null as string | null,
  threads: { min: 0, max: 1024 },
  upgradedIdleTimeout: 300 as number | null,
  workerAutopsyTimeout: 2,
  workerBootTimeout: 60,
  workerCheckInterval: 5,
  workerShutdownTimeout: 30,
  workerTimeout: 60,
  workers: 0,
});

export type OptionName = keyof typeof DEFAULTS;

export interface InspectAddress {
  readonly host: string;
  readonly port: number;
  /** Given by the user (a busy port is then worth a warning), not implied by debug. */
  readonly explicit: boolean;
}
/** Node's own default inspector port, which chrome://inspect watches out of the box. */
export const DEFAULT_INSPECT = Object.freeze({ host: '127.0.0.1', port: 9229 });

/** "9229", "HOST:9229", "[::1]:9229" -> host and port; null when malformed. */
export function parseInspectAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) return null;
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : DEFAULT_INSPECT.host;
  return { host, port: Number(m[2]) };
}
export const OPTION_NAMES = Object.keys(DEFAULTS) as OptionName[];


/** Puma options with no faithful meaning in Node, refused with the reason. */
const NO_EQUIVALENT: Record<string, string> = {
  forkWorker: 'Node cannot fork a live heap, so there is no worker 0 to fork from; use preload to load the app once in the primary and fail fast',
  refork: 'Node cannot fork a live heap',
  nakayoshiFork: 'there is no copy-on-write heap to compact before forking in Node',
};

/** One source of option values, lowest precedence first when passed to resolveOptions. */
export interface Layer {
  /** e.g. "config file ./tspuma.config.ts", "command line", "TSPUMA_OPTS", "environment". */
  readonly source: string;
  /** Values as given; strings when fromString (CLI and environment). */
  readonly values: Record<string, unknown>;
  readonly fromString: boolean;
  /** Per-key origin within the layer, e.g. "-t" or "TSPUMA_MAX_THREADS". */
  readonly origins?: Record<string, string>;
  /** Base directory for relative paths given in this layer. */
  readonly baseDir?: string;
}

class Expected extends Error {}

function describeSource(layer: Layer, key: string): string {
  const origin = layer.origins?.[key];
  if (layer.fromString) return origin ? `${origin} in ${layer.source}` : layer.source;
  return `${layer.source}, key \`${key}\``;
}

function parseBool(raw: unknown, fromString: boolean): boolean {
  if (typeof raw === 'boolean') return raw;
  if (fromString && typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
  }
  throw new Expected('a boolean (true or false)');
}

function parseNumber(raw: unknown, fromString: boolean, expected: string, integer: boolean): number {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (fromString && typeof raw === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(raw)) n = Number(raw);
  else throw new Expected(expected);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Expected(expected);
  return n;
}

function inRange(n: number, min: number, max: number, expected: string): number {
  if (n < min || n > max) throw new Expected(expected);
  return n;
}

const seconds = (min: number, allowZero: boolean) => (raw: unknown, fs: boolean) => {
  const expected = allowZero
    ? 'a number of seconds from 0 (off) to 86400'
    : `a number of seconds greater than ${min} and at most 86400`;
  const n = parseNumber(raw, fs, expected, false);
  if (allowZero ? n < 0 : n <= min) throw new Expected(expected);
  return inRange(n, 0, 86400, expected);
};

const nullable = <T>(inner: (raw: unknown, fs: boolean) => T) => (raw: unknown, fs: boolean): T | null => {
  if (raw === null || (fs && typeof raw === 'string' && ['', 'none', 'null', 'off'].includes(raw.trim().toLowerCase())))
    return null;
  return inner(raw, fs);
};

function hooks(raw: unknown): Hook[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.every((h) => typeof h === 'function')) return list as Hook[];
  throw new Expected('a function or an array of functions');
}

function nonEmptyString(raw: unknown, expected = 'a non-empty string'): string {
  if (typeof raw === 'string' && raw.trim() !== '') return raw;
  throw new Expected(expected);
}

function parseThreads(raw: unknown, fs: boolean): { min?: number; max?: number } {
  const expected = 'MIN:MAX (or MAX) with integers 0 <= MIN <= MAX, 1 <= MAX <= 100000';
  if (fs && typeof raw === 'string') {
    const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(raw);
    if (!m) throw new Expected(expected);
    return m[2] === undefined ? { max: Number(m[1]) } : { min: Number(m[1]), max: Number(m[2]) };
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const extra = Object.keys(raw).filter((k) => k !== 'min' && k !== 'max');
    if (extra.length === 0) {
      const out: { min?: number; max?: number } = {};
      const { min, max } = raw as { min?: unknown; max?: unknown };
      if (min !== undefined) out.min = parseNumber(min, false, expected, true);
      if (max !== undefined) out.max = parseNumber(max, false, expected, true);
      return out;
    }
  }
  throw new Expected('an object { min, max } of integers with 0 <= min <= max');
}

/** Each option's validator: returns the normalised value or throws Expected. */
const SPECS: Record<OptionName, (raw: unknown, fromString: boolean) => unknown> = {
  afterBooted: (raw) => hooks(raw),
  afterStopped: (raw) => hooks(raw),
  afterWorkerFork: (raw) => hooks(raw),
  afterWorkerShutdown: (raw) => hooks(raw),
  app: (raw) => {
    if (typeof raw === 'string') return nonEmptyString(raw);
    if (typeof raw === 'function') return raw;
    if (raw && typeof raw === 'object' && typeof (raw as { fetch?: unknown }).fetch === 'function') return raw;
    throw new Expected('a path to a .ts/.mts/.js/.mjs file, a handler function, or an object with fetch()');
  },
  balanceBusyWorkers: parseBool,
  beforeFork: (raw) => hooks(raw),
  beforeRestart: (raw) => hooks(raw),
  beforeWorkerBoot: (raw) => hooks(raw),
  beforeWorkerFork: (raw) => hooks(raw),
  beforeWorkerShutdown: (raw) => hooks(raw),
  bind: (raw) => {
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length > 0 && list.every((b) => typeof b === 'string' && b.trim() !== '')) return list;
    throw new Expected('a bind URI or an array of them (tcp://HOST:PORT, unix://PATH, ssl://HOST:PORT?cert=FILE&key=FILE)');
  },
  controlToken: nullable((raw) => {
    const expected = 'a token of 8 to 200 characters [A-Za-z0-9_-]';
    if (typeof raw === 'string' && /^[\w-]{8,200}$/.test(raw)) return raw;
    throw new Expected(expected);
  }),
  controlUrl: nullable((raw) => {
    if (typeof raw === 'string' && /^(tcp|unix):\/\//.test(raw)) return raw;
    throw new Expected('tcp://HOST:PORT or unix://PATH');
  }),
  debug: parseBool,
  inspect: (raw: unknown, fs: boolean): boolean | string | null => {
    if (raw === null) return null;
    const expected = 'true, false, a port, or HOST:PORT (an IPv6 host in brackets)';
    if (typeof raw === 'boolean') return raw;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 65535) return String(raw);
    if (typeof raw !== 'string') throw new Expected(expected);
    const text = raw.trim();
    if (fs && ['true', 'on', 'yes', '1'].includes(text.toLowerCase())) return true;
    if (fs && ['false', 'off', 'no'].includes(text.toLowerCase())) return false;
    if (parseInspectAddress(text) === null) throw new Expected(expected);
    return text;
  },
  dumpDir: nullable((raw) => nonEmptyString(raw, 'a folder path')),
  dumpFrames: (raw, fs) => inRange(parseNumber(raw, fs, 'an integer from 1 to 200', true), 1, 200, 'an integer from 1 to 200'),
  environment: (raw) => nonEmptyString(raw, 'a non-empty string such as development or production'),
  firstDataTimeout: seconds(0, false),
  headersTimeout: seconds(0, false),
  bodyTimeout: seconds(0, false),
  bodyBufferSize: (raw, fs) =>
    inRange(parseNumber(raw, fs, 'an integer number of bytes from 0 (stream every body) to 16777216', true), 0, 16 * 1024 * 1024, 'an integer number of bytes from 0 (stream every body) to 16777216'),
  forceShutdownAfter: (raw, fs) => {
    if (raw === 'forever' || raw === 'immediately') return raw;
    const expected = 'a number of seconds >= 0, "forever" or "immediately"';
    const n = parseNumber(raw, fs, expected, false);
    if (n < 0) throw new Expected(expected);
    return n;
  },
  httpContentLengthLimit: nullable((raw, fs) =>
    inRange(parseNumber(raw, fs, 'a positive integer number of bytes, or null', true), 1, Number.MAX_SAFE_INTEGER, 'a positive integer number of bytes, or null'),
  ),
  idleTimeout: nullable(seconds(0, false)),
  logLevel: (raw) => {
    if (typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw.trim().toLowerCase())) return raw.trim().toLowerCase();
    throw new Expected(`one of ${LOG_LEVELS.join(', ')}`);
  },
  logRequests: parseBool,
  lowlevelErrorHandler: (raw) => {
    if (raw === null || typeof raw === 'function') return raw;
    throw new Expected('a function (err, env, status) => response, or null');
  },
  maxKeepAlive: (raw, fs) =>
    inRange(parseNumber(raw, fs, 'an integer from 0 (unlimited) to 1000000', true), 0, 1_000_000, 'an integer from 0 (unlimited) to 1000000'),
  outOfBand: (raw) => hooks(raw),
  persistentTimeout: seconds(0, false),
  pidfile: nullable((raw) => nonEmptyString(raw, 'a file path')),
  port: nullable((raw, fs) => inRange(parseNumber(raw, fs, 'an integer from 0 to 65535', true), 0, 65535, 'an integer from 0 to 65535')),
  preload: parseBool,
  quiet: parseBool,
  redact: nullable((raw) => {
    const expected = 'a regular expression source matching secret names, e.g. "session|ssn"';
    const text = nonEmptyString(raw, expected);
    try {
      new RegExp(text, 'i');
    } catch {
      throw new Expected(expected);
    }
    return text;
  }),
  requestTimeout: seconds(0, true),
  state: nullable((raw) => nonEmptyString(raw, 'a file path')),
  supportedHttpMethods: (raw, fs) => {
    const expected = '"any" or an array of HTTP method names such as ["GET", "POST"]';
    if (raw === 'any') return 'any';
    const list = fs && typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw;
    if (Array.isArray(list) && list.length > 0 && list.every((m) => typeof m === 'string' && /^[A-Za-z-]+$/.test(m)))
      return list.map((m: string) => m.toUpperCase());
    throw new Expected(expected);
  },
  tag: nullable((raw) => nonEmptyString(raw)),
  threads: parseThreads,
  upgradedIdleTimeout: nullable(seconds(0, false)),
  workerAutopsyTimeout: seconds(0, true),
  workerBootTimeout: seconds(0, false),
  workerCheckInterval: seconds(0, false),
  workers: (raw, fs) => inRange(parseNumber(raw, fs, 'an integer from 0 to 1024', true), 0, 1024, 'an integer from 0 to 1024'),
  workerShutdownTimeout: seconds(0, false),
  workerTimeout: seconds(0, false),
};

interface Resolved {
  values: Record<string, unknown>;
  sources: Record<string, string>;
  rawShown: Record<string, unknown>;
}

function applyLayer(acc: Resolved, layer: Layer): void {
  for (const [key, raw] of Object.entries(layer.values)) {
    if (raw === undefined) continue;
    const source = describeSource(layer, key);
    if (!(key in SPECS)) {
      if (key in NO_EQUIVALENT) {
        throw new TspumaError('TSPUMA_ERR_OPTION_UNKNOWN', { name: key, source, didYouMean: ` It has no equivalent in tspuma: ${NO_EQUIVALENT[key]}.` });
      }
      throw new TspumaError('TSPUMA_ERR_OPTION_UNKNOWN', {
        name: key,
        source,
        didYouMean: didYouMean(key, OPTION_NAMES),
      });
    }
    const name = key as OptionName;
    let value: unknown;
    try {
      value = SPECS[name](raw, layer.fromString);
    } catch (err) {
      if (!(err instanceof Expected)) throw err;
      throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', { name, source, expected: err.message, value: showValue(raw) });
    }
    if (name === 'threads') {
      // threads merges field by field: TSPUMA_MIN_THREADS may set min alone.
      const prev = (acc.values.threads ?? {}) as { min?: number; max?: number };
      value = { ...prev, ...(value as object) };
    }
    if (name === 'bind') {
      value = (value as string[]).map((uri) => parseBind(uri, source, layer.baseDir));
    }
    if (name === 'app' && typeof value === 'string') acc.values.appBase = layer.baseDir ?? process.cwd();
    acc.values[name] = value;
    acc.sources[name] = source;
    acc.rawShown[name] = raw;
  }
}

/** Merges layers (lowest precedence first) over DEFAULTS, validates, and freezes. */
export function resolveOptions(layers: readonly Layer[]): Options {
  const acc: Resolved = { values: {}, sources: {}, rawShown: {} };
  for (const layer of layers) applyLayer(acc, layer);

  const v = acc.values;
  const get = <K extends OptionName>(k: K): unknown => (k in v ? v[k] : DEFAULTS[k]);
  const src = (k: string) => acc.sources[k] ?? 'default';

  const threadsPartial = (v.threads ?? {}) as { min?: number; max?: number };
  const threads = { min: threadsPartial.min ?? DEFAULTS.threads.min, max: threadsPartial.max ?? DEFAULTS.threads.max };
  if (threads.min < 0 || threads.max < 1 || threads.max > 100000 || threads.min > threads.max) {
    throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', {
      name: 'threads',
      source: src('threads'),
      expected: 'MIN:MAX with integers 0 <= MIN <= MAX, 1 <= MAX <= 100000',
      value: `${threads.min}:${threads.max}`,
    });
  }

  const workers = get('workers') as number;
  const checkInterval = get('workerCheckInterval') as number;
  const workerTimeout = get('workerTimeout') as number;
  if (workerTimeout <= checkInterval) {
    throw new TspumaError('TSPUMA_ERR_OPTION_CONFLICT', {
      rule: 'workerTimeout must be greater than workerCheckInterval, or every worker would miss its check-in',
      detail: `workerTimeout ${workerTimeout} from ${src('workerTimeout')}, workerCheckInterval ${checkInterval} from ${src('workerCheckInterval')}`,
    });
  }
  const inspectRaw = get('inspect') as boolean | string | null;
  const debugOn = get('debug') as boolean;
  let inspect: InspectAddress | null = null;
  if (inspectRaw === true || (inspectRaw === null && debugOn)) inspect = { ...DEFAULT_INSPECT, explicit: inspectRaw === true };
  else if (typeof inspectRaw === 'string') inspect = { ...parseInspectAddress(inspectRaw)!, explicit: true };
  if (inspect && inspect.port !== 0 && inspect.port + 2 + Math.max(0, (get('workers') as number) - 1) > 65535) {
    throw new TspumaError('TSPUMA_ERR_OPTION_CONFLICT', {
      rule: 'the inspector ports (base, base+1 for the primary, base+2+i for worker i) must stay below 65536',
      detail: `inspect ${inspect.port} from ${src('inspect')}, workers ${get('workers') as number} from ${src('workers')}`,
    });
  }
  const controlRaw = get('controlUrl') as string | null;
  const controlUrl = controlRaw === null ? null : parseBind(controlRaw, src('controlUrl'));

  const environment = get('environment') as string;
  const port = get('port') as number | null;
  let bind = (v.bind as BindSpec[] | undefined) ?? [];
  // PORT (or -p) overrides a bind list from a lower-precedence source, as a platform's PORT should.
  const bindRank = layers.findLastIndex((l) => l.values.bind !== undefined);
  const portRank = layers.findLastIndex((l) => l.values.port !== undefined && l.values.port !== null);
  if (port !== null && (bind.length === 0 || portRank > bindRank)) {
    const host = environment === 'development' ? '127.0.0.1' : '0.0.0.0';
    bind = [parseBind(`tcp://${host}:${port}`, src('port'))];
  } else if (bind.length === 0) {
    const host = environment === 'development' ? '127.0.0.1' : '0.0.0.0';
    bind = [parseBind(`tcp://${host}:9292`, 'default')];
  }

  const force = get('forceShutdownAfter') as number | 'forever' | 'immediately';
  const methods = get('supportedHttpMethods') as 'any' | string[];

  const hookList = (k: OptionName) => Object.freeze([...(get(k) as Hook[])]);
  const options: Options = {
    afterBooted: hookList('afterBooted'),
    afterStopped: hookList('afterStopped'),
    afterWorkerFork: hookList('afterWorkerFork'),
    afterWorkerShutdown: hookList('afterWorkerShutdown'),
    app: get('app') as string | AppInput | undefined,
    appBase: (v.appBase as string | undefined) ?? process.cwd(),
    balanceBusyWorkers: get('balanceBusyWorkers') as boolean,
    beforeFork: hookList('beforeFork'),
    beforeRestart: hookList('beforeRestart'),
    beforeWorkerBoot: hookList('beforeWorkerBoot'),
    beforeWorkerFork: hookList('beforeWorkerFork'),
    beforeWorkerShutdown: hookList('beforeWorkerShutdown'),
    bind: Object.freeze(bind.map((b) => Object.freeze(b))),
    controlToken: get('controlToken') as string | null,
    controlUrl: controlUrl ? Object.freeze(controlUrl) : null,
    debug: get('debug') as boolean,
    dumpDir: get('dumpDir') as string | null,
    dumpFrames: get('dumpFrames') as number,
    environment,
    firstDataTimeout: get('firstDataTimeout') as number,
    headersTimeout: get('headersTimeout') as number,
    bodyTimeout: get('bodyTimeout') as number,
    bodyBufferSize: get('bodyBufferSize') as number,
    forceShutdownAfter: force === 'forever' ? Infinity : force === 'immediately' ? 0 : force,
    httpContentLengthLimit: get('httpContentLengthLimit') as number | null,
    idleTimeout: get('idleTimeout') as number | null,
    inspect,
    logLevel: get('quiet') === true ? 'warn' : (get('logLevel') as LogLevel),
    logRequests: get('logRequests') as boolean,
    lowlevelErrorHandler: get('lowlevelErrorHandler') as LowlevelErrorHandler | null,
    maxKeepAlive: get('maxKeepAlive') as number,
    outOfBand: hookList('outOfBand'),
    persistentTimeout: get('persistentTimeout') as number,
    pidfile: get('pidfile') as string | null,
    port,
    preload: get('preload') as boolean,
    quiet: get('quiet') as boolean,
    redact: get('redact') as string | null,
    requestTimeout: get('requestTimeout') as number,
    state: get('state') as string | null,
    supportedHttpMethods: methods === 'any' ? 'any' : new Set(methods),
    tag: get('tag') as string | null,
    threads: Object.freeze(threads),
    upgradedIdleTimeout: get('upgradedIdleTimeout') as number | null,
    workerAutopsyTimeout: get('workerAutopsyTimeout') as number,
    workerBootTimeout: get('workerBootTimeout') as number,
    workerCheckInterval: checkInterval,
    workers,
    workerShutdownTimeout: get('workerShutdownTimeout') as number,
    workerTimeout,
    sources: Object.freeze({ ...acc.sources }),
  };
  return Object.freeze(options);
}

/** Typed identity for config files: `export default defineConfig({ ... })`. */
export function defineConfig(config: TspumaConfig): TspumaConfig {
  return config;
}
