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
import { machineTag, processAlive, processStart } from '../server/process-alive.js';

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

export type Claim = { mine: true } | { mine: false; path: string | null; withoutValues?: true };

/** The last line of a claim whose dump has no values and whose site's next throw pauses (claimSite's `withoutValues`). */
const WITHOUT_VALUES = '\nwithout values';

const CLAIMS_RULES = { what: 'dump site claims folder' };
const RUN_CLAIMS_RULES = { what: 'folder of the -d primaries\' site claims' };

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
 * across processes) writes the dump; the others learn the path it wrote, and whether that dump
 * was made `withoutValues` (an error-storm back-off's, index.ts: the site's next throw pauses, and
 * its capture, in whichever process, is dumped again: claimValues). Hangs are never claimed.
 */
export function claimSite(dir: string, run: string, site: string, path: string, withoutValues = false): Claim {
  const file = join(dir, CLAIMS_DIR, `${run}-${createHash('sha1').update(site).digest('hex').slice(0, 20)}`);
  try {
    claimsFolder(dir);
    writeFileSync(file, withoutValues ? `${path}${WITHOUT_VALUES}` : path, { flag: 'wx', mode: PRIVATE_FILE_MODE });
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
    const bare = written.endsWith(WITHOUT_VALUES);
    if (bare) written = written.slice(0, -WITHOUT_VALUES.length);
    // Empty while its owner is between creating and writing it.
    return { mine: false, path: written === '' ? null : written, ...(bare ? { withoutValues: true as const } : {}) };
  }
}

/**
 * The dump with values of a site whose claim says its dump has none: the first process of the run
 * whose throw there is captured takes it (O_EXCL, as claimSite) and writes its dump; the others'
 * captures there are its repeats.
 */
export function claimValues(dir: string, run: string, site: string, path: string): Claim {
  return claimSite(dir, run, valuesKey(site), path);
}

/** What claimValues claims of `site` (releaseSite gives it back under this name). */
export function valuesKey(site: string): string {
  return `${site}\u0000with values`;
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
 * Removes every claim of cluster `run` (all its phases) from `dir`'s claims folder: its primary
 * stopped, its workers are gone. Nothing is removed from a claims folder that is not this user's
 * own; a folder never made, or claims gone meanwhile, are fine.
 */
export function releaseRunClaims(dir: string, run: string): void {
  const claims = join(dir, CLAIMS_DIR);
  try {
    checkPrivateDir(claims, CLAIMS_RULES);
    for (const name of readdirSync(claims)) if (name.startsWith(`${run}-`)) unlinkSync(join(claims, name));
  } catch {
    /* no claims folder, another user's, or a claim removed meanwhile */
  }
}

/** A run id's machine (run.ts: `<pid>-<time>-m<machineTag>`); older run ids have none. */
const RUN_MACHINE = /^\d+-[0-9a-z]+-m([0-9a-f]{8})-/;

/**
 * Removes the claims of clusters whose primary (the pid that starts a run id) is gone. A claim of
 * a run on another machine or in another pid namespace (a dump folder several hosts or containers
 * share) is kept: its pid says nothing about a process here. Throws TSPUMA_ERR_FILE_UNSAFE when
 * the claims folder is another user's (nothing is removed there).
 */
export function clearStaleClaims(dir: string, alive: (pid: number) => boolean = processAlive, machine: string = machineTag()): void {
  checkPrivateDir(join(dir, CLAIMS_DIR), CLAIMS_RULES);
  let names: string[];
  try {
    names = readdirSync(join(dir, CLAIMS_DIR));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    const at = RUN_MACHINE.exec(name)?.[1];
    if (!Number.isInteger(pid) || (at !== undefined && at !== machine) || alive(pid)) continue;
    try {
      unlinkSync(join(dir, CLAIMS_DIR, name));
    } catch {
      /* another worker cleared it */
    }
  }
}

/**
 * Who made a -d primary's claims folder, as its name says: `<pid>-<start>-<machine>-XXXXXX`, the
 * process's start time (clock ticks after boot, /proc/<pid>/stat; 0 where it cannot be read) and
 * its machine and pid namespace (machineTag).
 */
const RUN_CLAIMS = /^(\d+)-(\d+)-([0-9a-f]{8})-[A-Za-z0-9]{6}$/;

/** What the sweep asks of the machine about a primary (injected by tests). */
export interface ClaimsOwners {
  /** This process's start time ('0': unknown) and machineTag, as the folder's name gives them. */
  self(): { start: string; tag: string };
  alive(pid: number): boolean;
  /** The start time of the process running as `pid` now, or null where it cannot be read. */
  start(pid: number): string | null;
}

export const localOwners: ClaimsOwners = {
  self: () => ({ start: processStart('self') ?? '0', tag: machineTag() }),
  alive: processAlive,
  start: processStart,
};

/**
 * Whether the folder named `name` belongs to a primary that is gone: one of this machine and pid
 * namespace whose pid runs no more, or runs a process started at another time (the pid reused). A
 * folder made in another pid namespace (a container sharing this temporary folder) is never judged
 * from here: its pid means another process in this one.
 */
function claimsOwnerGone(name: string, self: { start: string; tag: string }, owners: ClaimsOwners): boolean {
  const m = RUN_CLAIMS.exec(name);
  if (!m) return false;
  const [, pid, start, tag] = m as unknown as [string, string, string, string];
  if (tag !== self.tag) return false;
  if (!owners.alive(Number(pid))) return true;
  const now = owners.start(Number(pid));
  return start !== '0' && now !== null && now !== start;
}

/**
 * A -d cluster primary's own folder (0700) where its workers claim dump sites when they write no
 * dump folder (SITE_CLAIMS_ENV): without it each worker printed every site it failed at, so a
 * crash loop printed the same dumps at every respawn. It is made in this user's own folder of
 * them, `tspuma-sites-<uid>` in the temporary folder (0700, never another user's or a link), whose
 * folders of primaries that are gone (a SIGKILLed one never removed its own) are removed first:
 * the sweep reads that folder only, not the whole temporary folder (tens of thousands of entries
 * on a busy host), and judges a folder by who made it, not by its pid alone (claimsOwnerGone).
 * Null when the temporary folder cannot be used: each worker then prints its own dumps.
 */
export function runClaimsFolder(base: string = tmpdir(), owners: ClaimsOwners = localOwners): { dir: string; remove(): void } | null {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  const parent = join(base, `tspuma-sites-${uid ?? 'user'}`);
  try {
    checkPrivateDir(parent, RUN_CLAIMS_RULES);
    ensurePrivateDir(parent);
    checkPrivateDir(parent, RUN_CLAIMS_RULES); // made by someone else between the check and mkdir
  } catch {
    return null;
  }
  const self = owners.self();
  try {
    for (const name of readdirSync(parent)) {
      if (!claimsOwnerGone(name, self, owners)) continue;
      const st = lstatSync(join(parent, name), { throwIfNoEntry: false });
      if (st?.isDirectory() && (uid === null || st.uid === uid)) rmSync(join(parent, name), { recursive: true, force: true });
    }
  } catch {
    /* an unreadable folder: the mkdtemp below says whether it can be used */
  }
  let dir: string;
  try {
    dir = mkdtempSync(join(parent, `${process.pid}-${self.start}-${self.tag}-`));
  } catch {
    return null;
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
