// A dump folder's bound: keeps the newest maxFiles dumps
// and, for the processes of one cluster, the rule of one dump per failure site, across every
// process that writes there. The state is the folder itself, read when a dump is written, so
// a process never waits for another and a crashing worker's dump is on disk before it returns.
// Without a dump folder, a -d primary's own folder of claims keeps the rule (runClaimsFolder).
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPrivateDir, ensurePrivateDir, PRIVATE_FILE_MODE } from '../server/private-file.js';
import { processAlive } from '../server/process-alive.js';

/**
 * A dump's files: `<ISO time with - for : and .>-<host>-<pid>-<id>.json` and `.txt`; they sort by
 * time, whichever machine wrote them, so one folder shared by many hosts keeps the newest. Names
 * without the host (written before hosts were named) are counted too.
 */
export const DUMP_FILE = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-(?:[A-Za-z0-9._-]+-)?\d+-\d+\.json$/;

/** A host name as it goes in a dump's file name: letters, digits, `.`, `_`, `-`; at most 64. */
export function fileHost(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return safe === '' ? 'host' : safe;
}
/** Site claims of running clusters, one empty-ish file per site, in the dump folder. */
export const CLAIMS_DIR = '.tspuma-sites';

/** The dumps in `dir`, oldest first (by name: time first), as paths without extension. */
export function dumpsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => DUMP_FILE.test(n))
    .sort()
    .map((n) => join(dir, n.slice(0, -'.json'.length)));
}

/**
 * Removes the oldest dumps until at most `maxFiles` are left. Processes trimming at once read the
 * same listing or a later one, so they remove the same oldest files (an unlink of a file another
 * removed first is ignored) and never more than the bound asks.
 */
export function trimFolder(dir: string, maxFiles: number): void {
  const all = dumpsIn(dir);
  for (const base of all.slice(0, Math.max(0, all.length - maxFiles))) {
    for (const ext of ['.json', '.txt']) {
      try {
        unlinkSync(`${base}${ext}`);
      } catch {
        /* already gone: another process trimmed it */
      }
    }
  }
}

export type Claim = { mine: true } | { mine: false; path: string | null };

const CLAIMS_RULES = { what: 'dump site claims folder' };

/**
 * The claims folder of `dir`, made if missing, checked before and after: never another user's
 * symbolic link or folder (in a shared dump folder they could otherwise pre-create a site's claim
 * and silence its dump). Throws TSPUMA_ERR_FILE_UNSAFE.
 */
function claimsFolder(dir: string): string {
  const claims = join(dir, CLAIMS_DIR);
  checkPrivateDir(claims, CLAIMS_RULES);
  ensurePrivateDir(claims);
  checkPrivateDir(claims, CLAIMS_RULES); // made by someone else between the check and mkdir
  return claims;
}

/**
 * One process of cluster `run` takes `site`: the first to create its claim file (O_EXCL, atomic
 * across processes) writes the dump; the others learn the path it wrote. Hangs are never claimed.
 */
export function claimSite(dir: string, run: string, site: string, path: string): Claim {
  const file = join(dir, CLAIMS_DIR, `${run}-${createHash('sha1').update(site).digest('hex').slice(0, 20)}`);
  try {
    claimsFolder(dir);
    writeFileSync(file, path, { flag: 'wx', mode: PRIVATE_FILE_MODE });
    return { mine: true };
  } catch (err) {
    // A claim that cannot be made (a read-only folder, another user's claims folder) must not cost the dump.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { mine: true };
    let written = '';
    try {
      written = readFileSync(file, 'utf8');
    } catch {
      /* removed meanwhile */
    }
    // Empty while its owner is between creating and writing it.
    return { mine: false, path: written === '' ? null : written };
  }
}

/** Gives `site`'s claim back (its dump could not be written): another process may take it. */
export function releaseSite(dir: string, run: string, site: string): void {
  try {
    checkPrivateDir(join(dir, CLAIMS_DIR), CLAIMS_RULES);
    unlinkSync(join(dir, CLAIMS_DIR, `${run}-${createHash('sha1').update(site).digest('hex').slice(0, 20)}`));
  } catch {
    /* never made (a read-only folder) or already gone */
  }
}

/**
 * Removes the claims of clusters whose primary (the pid that starts a run id) is gone. Throws
 * TSPUMA_ERR_FILE_UNSAFE when the claims folder is another user's (nothing is removed there).
 */
export function clearStaleClaims(dir: string, alive: (pid: number) => boolean = processAlive): void {
  checkPrivateDir(join(dir, CLAIMS_DIR), CLAIMS_RULES);
  let names: string[];
  try {
    names = readdirSync(join(dir, CLAIMS_DIR));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || alive(pid)) continue;
    try {
      unlinkSync(join(dir, CLAIMS_DIR, name));
    } catch {
      /* another worker cleared it */
    }
  }
}

/** The name of a -d primary's own claims folder in the temporary folder: `tspuma-sites-<pid>-XXXXXX`. */
const RUN_CLAIMS = /^tspuma-sites-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * A -d cluster primary's own folder (0700, mkdtemp in the temporary folder) where its workers claim
 * dump sites when they write no dump folder (SITE_CLAIMS_ENV): without it each worker printed
 * every site it failed at, so a crash loop printed the same dumps at every respawn. Folders of
 * this user's primaries that are gone (a SIGKILLed one never removed its own) are removed first.
 * Null when the temporary folder cannot be written: each worker then prints its own dumps.
 */
export function runClaimsFolder(base: string = tmpdir(), alive: (pid: number) => boolean = processAlive): { dir: string; remove(): void } | null {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  try {
    for (const name of readdirSync(base)) {
      const pid = Number(RUN_CLAIMS.exec(name)?.[1]);
      if (!pid || alive(pid)) continue;
      const st = lstatSync(join(base, name), { throwIfNoEntry: false });
      if (st?.isDirectory() && (uid === null || st.uid === uid)) rmSync(join(base, name), { recursive: true, force: true });
    }
  } catch {
    /* an unreadable temporary folder: the mkdtemp below says whether it can be used */
  }
  let dir: string;
  try {
    dir = mkdtempSync(join(base, `tspuma-sites-${process.pid}-`));
  } catch {
    return null;
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
