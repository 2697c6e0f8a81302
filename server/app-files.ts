// Where the app is: the file extensions an app may have, the files looked for when none is named,
// and the file an `app` option names. No loading here: a cluster primary, the config file and
// `tspuma doctor` need the path alone, without app-loader.ts's adapters and request handling.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const APP_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx'] as const;
/** Searched in order when neither the command line nor the config names an app. */
export const DEFAULT_APP_FILES = ['app.ts', 'app.js', 'index.ts'] as const;

/** The app's file as the loader finds it: the path given, else the first default file present; null for an inline app (state files name it). */
export function appFileOf(app: unknown, base: string): string | null {
  if (typeof app === 'string') return resolve(base, app);
  if (app !== undefined) return null;
  return DEFAULT_APP_FILES.map((f) => resolve(base, f)).find((f) => existsSync(f)) ?? null;
}
