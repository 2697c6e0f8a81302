// Where the app is: the file extensions an app may have, the files looked for when none is named,
// and the file an `app` option names. No loading here: a cluster primary, the config file and
// `tspuma doctor` need the path alone, without app-loader.ts's adapters and request handling (a
// cluster primary refuses a missing app file with resolveAppPath before it forks a worker).
import { existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { TspumaError, showValue } from './errors.js';

export const APP_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx'] as const;
/** Searched in order when neither the command line nor the config names an app. */
export const DEFAULT_APP_FILES = ['app.ts', 'app.js', 'index.ts'] as const;

/** The app's file as the loader finds it: the path given, else the first default file present; null for an inline app (state files name it). */
export function appFileOf(app: unknown, base: string): string | null {
  if (typeof app === 'string') return resolve(base, app);
  if (app !== undefined) return null;
  return DEFAULT_APP_FILES.map((f) => resolve(base, f)).find((f) => existsSync(f)) ?? null;
}

/**
 * The app's file, or TSPUMA_ERR_APP_NOT_FOUND naming the path and where it came from (`source`):
 * the path given must have an app extension and exist; with none, the first default file present.
 */
/** A flag of the command line or TSPUMA_OPTS whose value names an app file: an APP a value-taking flag swallowed. */
export interface TakenApp {
  /** The flag as it was written: `-e`, `--environment`. */
  readonly flag: string;
  readonly value: string;
  /** 'command line' or 'TSPUMA_OPTS'. */
  readonly source: string;
  /** The option the flag sets. */
  readonly key: string;
}

/**
 * The first option value given as `flag VALUE` that names an existing app file (`tspuma -e
 * src/app.ts`: -e takes `src/app.ts` as the environment), for the no-app error's hint.
 */
export function appTakenByFlag(layers: readonly { values: Readonly<Record<string, unknown>>; origins: Readonly<Record<string, string>>; source: string }[], base: string): TakenApp | undefined {
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v !== 'string' || !APP_EXTENSIONS.includes(extname(v) as (typeof APP_EXTENSIONS)[number])) continue;
        const file = resolve(base, v);
        if (existsSync(file) && statSync(file).isFile()) return { flag: layer.origins[key] ?? key, value: v, source: layer.source, key };
      }
    }
  }
  return undefined;
}

export function resolveAppPath(app: string | undefined, base: string, source: string, taken?: TakenApp): string {
  if (app !== undefined) {
    const file = isAbsolute(app) ? app : resolve(base, app);
    if (!APP_EXTENSIONS.includes(extname(file) as (typeof APP_EXTENSIONS)[number])) {
      throw new TspumaError('TSPUMA_ERR_APP_NOT_FOUND', { detail: `${showValue(app)} (${source}) is not a ${APP_EXTENSIONS.join(', ')} file` });
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new TspumaError('TSPUMA_ERR_APP_NOT_FOUND', { detail: `${file} (${source}) does not exist` });
    }
    return file;
  }
  const tried = DEFAULT_APP_FILES.map((f) => resolve(base, f));
  const found = tried.find((f) => existsSync(f));
  if (!found) {
    throw new TspumaError('TSPUMA_ERR_APP_NOT_FOUND', {
      detail: `no APP argument, no \`app\` in a config file, and none of ${tried.join(', ')} exists${taken ? takenHint(taken) : ''}`,
    });
  }
  return found;
}

function takenHint(taken: TakenApp): string {
  return `; \`${taken.flag}\` (${taken.source}) took \`${taken.value}\`, an app file, as its value: ${appLastHint(taken)}`;
}

/** What to write instead: the flag with a value of its own, the app last. */
export function appLastHint({ flag, value, key }: TakenApp): string {
  return `give ${flag} a value of its own and the app last, e.g. \`tspuma ${flag} ${key === 'environment' ? 'production' : 'VALUE'} ${value}\``;
}
