// Names a bundler renamed, back to the source's (issue 31): a bundle puts every module of a chunk
// in one scope and esbuild renames what collides there (`source` -> `source2`, `parse` ->
// `parse2`). scripts/chunk-names.mjs writes each chunk's table beside it at build time
// (`<chunk>.js.names.json`); a dump, a probe's frame, a profile and a logged stack
// (stack-lines.ts) read the table of a script when they first name one of its functions, once per
// script and process. tsc's build writes none: then a script costs one existsSync.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A generated name's source name (itself when the bundler kept it). */
export type Rename = (name: string) => string;

/** The suffix scripts/chunk-names.mjs appends to a script's path. */
export const NAMES_SUFFIX = '.names.json';

const tables = new Map<string, Rename | null>();

function scriptPath(url: string): string | null {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return isAbsolute(url) ? url.replace(/[?#].*$/, '') : null;
}

/** The table of the script at url (a file URL or an absolute path), or null when it has none. */
export function renamesOf(url: string): Rename | null {
  const path = scriptPath(url);
  if (path === null) return null;
  const known = tables.get(path);
  if (known !== undefined) return known;
  let rename: Rename | null = null;
  // Checked first: a throw here (ENOENT) would pause debug mode's capture for nothing.
  if (existsSync(`${path}${NAMES_SUFFIX}`)) {
    try {
      const parsed = JSON.parse(readFileSync(`${path}${NAMES_SUFFIX}`, 'utf8')) as { names?: unknown };
      const names = new Map<string, string>();
      if (parsed.names && typeof parsed.names === 'object') for (const [k, v] of Object.entries(parsed.names)) if (typeof v === 'string') names.set(k, v);
      if (names.size > 0) rename = (name) => names.get(name) ?? name;
    } catch {
      rename = null; // a damaged table: the generated names, as without one
    }
  }
  if (tables.size < 5000) tables.set(path, rename);
  return rename;
}

/** Every identifier of a function's display name (`Listener2.close`, `new Pool2`, `async parse2`) renamed. */
export function renameIdentifiers(text: string, rename: Rename): string {
  return text.replace(/[A-Za-z_$][\w$]*/g, (id) => rename(id));
}
