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
export function resolveAppPath(app: string | undefined, base: string, source: string): string {
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
      detail: `no APP argument, no \`app\` in a config file, and none of ${tried.join(', ')} exists`,
    });
  }
  return found;
}
