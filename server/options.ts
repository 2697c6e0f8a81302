// Resolves options: merges the layers (command line, TSPUMA_OPTS, environment, config file)
// over the records' defaults, checks each value with its record, then the rules that tie
// options together, into one frozen Options object.
import type { BindSpec } from './binder-uri.js';
import { parseBind } from './binder-uri.js';
import { availableCpus, type CpuCount } from './available-cpus.js';
import { TspumaError, didYouMean, showValue } from './errors.js';
import { DEFAULT_INSPECT, Expected, parseInspectAddress } from './option-checks.js';
import { DEFAULTS, OPTION_NAMES, RECORDS, recordOf, type CheckedValue, type ConfigValue, type DefaultValue, type OptionName } from './option-records.js';

export { DEFAULT_INSPECT, LOG_LEVELS, parseInspectAddress, type LogLevel } from './option-checks.js';
export { DEFAULT_HTTP_METHODS, DEFAULTS, OPTION_NAMES, type OptionName } from './option-records.js';

/** What users write in tspuma.config.ts: every key optional. */
export type TspumaConfig = { [K in OptionName]?: ConfigValue<K> };

/** Options whose resolved form is worked out from more than their own value (in resolveOptions). */
type WorkedOut = 'bind' | 'controlUrl' | 'healthUrl' | 'forceShutdownAfter' | 'inspect' | 'supportedHttpMethods' | 'threads' | 'workers';
type Frozen<T> = T extends readonly (infer E)[] ? readonly E[] : T;

/** The resolved, validated, frozen options every module reads. */
export type Options = { readonly [K in Exclude<OptionName, WorkedOut>]: Frozen<CheckedValue<K>> } & {
  readonly bind: readonly BindSpec[];
  /** Control app bind; null: no control app. */
  readonly controlUrl: BindSpec | null;
  /** Health checks bind; null: none. */
  readonly healthUrl: BindSpec | null;
  /** Seconds; Infinity for Puma's :forever. */
  readonly forceShutdownAfter: number;
  /** Inspector base address (discovery; +1 the primary; +2+i worker i); null: no inspector. */
  readonly inspect: InspectAddress | null;
  readonly supportedHttpMethods: 'any' | ReadonlySet<string>;
  readonly threads: { readonly min: number; readonly max: number };
  /** Worker processes; 0 is single mode. `'auto'` is resolved here. */
  readonly workers: number;
  /** How `workers: 'auto'` was resolved (for the boot line); null when a number was given. */
  readonly workersAuto: string | null;
  /** Directory a relative `app` path is resolved against. */
  readonly appBase: string;
  /** Where each option's value came from, for messages ("default", "config file x, key y", ...). */
  readonly sources: Readonly<Record<string, string>>;
};

export interface InspectAddress {
  readonly host: string;
  readonly port: number;
  /** Given by the user (a busy port is then worth a warning), not implied by debug. */
  readonly explicit: boolean;
}

/** Puma options with no faithful meaning in Node, refused with the reason. */
const NO_EQUIVALENT: Record<string, string> = {
  forkWorker: 'Node cannot fork a live heap, so there is no worker 0 to fork from; use preload to load the app once in the primary and fail fast',
  refork: 'Node cannot fork a live heap',
  nakayoshiFork: 'there is no copy-on-write heap to compact before forking in Node',
};

/**
 * Names users come with for an option of tspuma's that are too far from its name to be guessed
 * (Puma's, or the CLI flag's meaning spelled out): the unknown-option error suggests the option.
 */
const MEANT: Record<string, OptionName> = {
  state_path: 'state',
  statePath: 'state',
  stateFile: 'state',
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

function describeSource(layer: Layer, key: string): string {
  const origin = layer.origins?.[key];
  if (layer.fromString) return origin ? `${origin} in ${layer.source}` : layer.source;
  return `${layer.source}, key \`${key}\``;
}

interface Merged {
  values: Record<string, unknown>;
  sources: Record<string, string>;
}

function applyLayer(acc: Merged, layer: Layer): void {
  for (const [key, raw] of Object.entries(layer.values)) {
    if (raw === undefined) continue;
    const source = describeSource(layer, key);
    if (!(key in RECORDS)) {
      if (key in NO_EQUIVALENT) {
        throw new TspumaError('TSPUMA_ERR_OPTION_UNKNOWN', { name: key, source, didYouMean: ` It has no equivalent in tspuma: ${NO_EQUIVALENT[key]}.` });
      }
      const meant = Object.hasOwn(MEANT, key) ? ` Did you mean \`${MEANT[key]}\`?` : didYouMean(key, OPTION_NAMES);
      throw new TspumaError('TSPUMA_ERR_OPTION_UNKNOWN', { name: key, source, didYouMean: meant });
    }
    const name = key as OptionName;
    let value: unknown;
    try {
      value = recordOf(name).check(raw, layer.fromString);
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
  }
}

/** What resolving reads from the machine; tests inject it. */
export interface OptionSystem {
  /** The worker count `workers: 'auto'` stands for. */
  readonly cpus: () => CpuCount;
}

/** Merges layers (lowest precedence first) over DEFAULTS, validates, and freezes. */
export function resolveOptions(layers: readonly Layer[], system: OptionSystem = { cpus: () => availableCpus() }): Options {
  const acc: Merged = { values: {}, sources: {} };
  for (const layer of layers) applyLayer(acc, layer);

  const v = acc.values;
  const get = <K extends OptionName>(k: K): CheckedValue<K> | DefaultValue<K> => (k in v ? v[k] : DEFAULTS[k]) as CheckedValue<K>;
  const src = (k: string) => acc.sources[k] ?? 'default';

  // The rules that tie options together, in one place.
  const threads = { min: DEFAULTS.threads.min, max: DEFAULTS.threads.max, ...(v.threads as { min?: number; max?: number } | undefined) };
  if (threads.min < 0 || threads.max < 1 || threads.max > 100000 || threads.min > threads.max) {
    throw new TspumaError('TSPUMA_ERR_OPTION_INVALID', {
      name: 'threads',
      source: src('threads'),
      expected: 'MIN:MAX with integers 0 <= MIN <= MAX, 1 <= MAX <= 100000',
      value: `${threads.min}:${threads.max}`,
    });
  }

  const workersRaw = get('workers');
  const auto = workersRaw === 'auto' ? system.cpus() : null;
  const workers = auto ? auto.count : (workersRaw as number);

  const checkInterval = get('workerCheckInterval');
  const workerTimeout = get('workerTimeout');
  if (workerTimeout <= checkInterval) {
    throw new TspumaError('TSPUMA_ERR_OPTION_CONFLICT', {
      rule: 'workerTimeout must be greater than workerCheckInterval, or every worker would miss its check-in',
      detail: `workerTimeout ${workerTimeout} from ${src('workerTimeout')}, workerCheckInterval ${checkInterval} from ${src('workerCheckInterval')}`,
    });
  }
  const inspectRaw = get('inspect');
  let inspect: InspectAddress | null = null;
  if (inspectRaw === true || (inspectRaw === null && get('debug'))) inspect = { ...DEFAULT_INSPECT, explicit: inspectRaw === true };
  else if (typeof inspectRaw === 'string') inspect = { ...parseInspectAddress(inspectRaw)!, explicit: true };
  if (inspect && inspect.port !== 0 && inspect.port + 2 + Math.max(0, workers - 1) > 65535) {
    throw new TspumaError('TSPUMA_ERR_OPTION_CONFLICT', {
      rule: 'the inspector ports (base for discovery, base+2+i for worker i) must stay below 65536',
      detail: `inspect ${inspect.port} from ${src('inspect')}, workers ${workers} from ${src('workers')}`,
    });
  }
  const controlRaw = get('controlUrl');
  const controlUrl = controlRaw === null ? null : parseBind(controlRaw, src('controlUrl'), undefined, 'control');
  const healthRaw = get('healthUrl');
  const healthUrl = healthRaw === null ? null : parseBind(healthRaw, src('healthUrl'), undefined, 'health');

  const environment = get('environment');
  const port = get('port');
  let bind = (v.bind as BindSpec[] | undefined) ?? [];
  // PORT (or -p) overrides a bind list from a lower-precedence source, as a platform's PORT should.
  const bindRank = layers.findLastIndex((l) => l.values.bind !== undefined);
  const portRank = layers.findLastIndex((l) => l.values.port !== undefined && l.values.port !== null);
  const host = environment === 'development' ? '127.0.0.1' : '0.0.0.0';
  if (port !== null && (bind.length === 0 || portRank > bindRank)) bind = [parseBind(`tcp://${host}:${port}`, src('port'))];
  else if (bind.length === 0) bind = [parseBind(`tcp://${host}:9292`, 'default')];

  const force = get('forceShutdownAfter');
  const methods = get('supportedHttpMethods');

  const options: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const value = get(name);
    options[name] = Array.isArray(value) ? Object.freeze([...value]) : value;
  }
  Object.assign(options, {
    appBase: (v.appBase as string | undefined) ?? process.cwd(),
    bind: Object.freeze(bind.map((b) => Object.freeze(b))),
    controlUrl: controlUrl ? Object.freeze(controlUrl) : null,
    healthUrl: healthUrl ? Object.freeze(healthUrl) : null,
    forceShutdownAfter: force === 'forever' ? Infinity : force === 'immediately' ? 0 : force,
    inspect,
    logLevel: get('quiet') ? 'warn' : get('logLevel'),
    supportedHttpMethods: methods === 'any' ? 'any' : new Set(methods),
    threads: Object.freeze(threads),
    workers,
    workersAuto: auto ? auto.how : null,
    sources: Object.freeze({ ...acc.sources }),
  } satisfies Partial<Record<keyof Options, unknown>>);
  // A copy by spread: `options` took its 69 names through keyed stores, which left V8 holding it as
  // a dictionary (a hash lookup through the LoadIC builtin for every read, which optimized code
  // cannot inline: the request path reads several options a request); the spread's copy has fast
  // properties, pinned by test/unit/options.test.ts.
  return Object.freeze({ ...options }) as Options;
}

/**
 * The highest-precedence value of one option if it passes its check, else its default: for
 * what must start before every option is checked (debug mode, so a bad option gets a dump too).
 */
export function peekOption<K extends OptionName>(layers: readonly Layer[], name: K): CheckedValue<K> | DefaultValue<K> {
  const layer = layers.findLast((l) => l.values[name] !== undefined);
  if (layer) {
    try {
      return recordOf(name).check(layer.values[name], layer.fromString) as CheckedValue<K>;
    } catch (err) {
      if (!(err instanceof Expected)) throw err;
    }
  }
  return DEFAULTS[name];
}

/** Where peekOption's value came from ("TSPUMA_DUMP_DIR in environment"); undefined when no layer sets it. */
export function peekSource(layers: readonly Layer[], name: OptionName): string | undefined {
  const layer = layers.findLast((l) => l.values[name] !== undefined);
  return layer ? describeSource(layer, name) : undefined;
}

/** Typed identity for config files: `export default defineConfig({ ... })`. */
export function defineConfig(config: TspumaConfig): TspumaConfig {
  return config;
}
