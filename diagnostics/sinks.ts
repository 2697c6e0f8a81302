// Where dumps go: every dump leaves the process once per
// distinct site: stderr (text), TSPUMA_DUMP_DIR (.json and .txt, 0600, bounded across every
// process writing there; named with the host, so many machines can share one folder), GitHub
// Actions (annotations and the step summary, github.ts), and the user's onDump.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { unlinkSync } from 'node:fs';
import { probeWritableDir, writePrivateFile } from '../server/private-file.js';
import { TspumaError } from '../server/errors.js';
import { DUMP_DIR_REFUSED_ENV } from '../server/shared-names.js';
import { claimSite, claimValues, clearStaleClaims, fileHost, releaseSite, trimFolder, valuesKey } from './dump-budget.js';
import type { DumpDelivery } from './dump-delivery.js';
import type { Dump } from './model.js';
import { oneLine } from './redact.js';
import { renderText } from './render.js';
import { annotation, appendSummary, type GithubContext } from './github.js';

export interface SinkOptions {
  /** Folder for .json/.txt files; null for none. */
  dir: string | null;
  /** Where dir came from, for the boot warning when it cannot be used ("TSPUMA_DUMP_DIR in environment"). */
  dirSource?: string;
  /** The environment: a worker whose primary already warned of an unusable folder says nothing. */
  env?: NodeJS.ProcessEnv;
  /** Most dumps kept in dir (pairs of files); the oldest go first. */
  maxFiles: number;
  githubActions: boolean;
  /** The workflow's context (workspace, step summary, links); from githubContext(env). */
  github?: GithubContext | null;
  colour: boolean;
  write: (text: string) => void;
  /**
   * A cluster worker: the run id its primary shares with every worker, under which sites are
   * claimed in dir so a site gets one dump per server; null in single mode and the primary.
   */
  run?: string | null;
  /**
   * A cluster worker's folder for those claims when it writes no dump folder (the primary's own,
   * SITE_CLAIMS_ENV): a site is then printed in full once for the whole cluster, respawns included.
   */
  claims?: string | null;
  /** The machine's name in file names (default os.hostname()). */
  host?: string;
  /** A cluster worker, as its repeat counts name it ("worker 1 (PID 123)"); null elsewhere. */
  who?: string | null;
  /** The user's onDump, called once per new site after the files are written. */
  delivery?: DumpDelivery | null;
}

/**
 * The dump folder if it can be created and written now, else null after a coded warning: dumps
 * are an aid, so a folder this user cannot create or write (a read-only working directory under
 * CI=true, another user's folder) costs the files, never the server. A cluster's primary warns
 * once and marks the environment its workers inherit.
 */
function usableDir(opts: SinkOptions): string | null {
  const dir = opts.dir!;
  try {
    probeWritableDir(dir);
    return dir;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const env = opts.env ?? process.env;
    if (env[DUMP_DIR_REFUSED_ENV] === dir) return null;
    const source = opts.dirSource ?? 'dumpDir';
    const hint = source.startsWith('CI=')
      ? 'run from a folder this user can write, or set TSPUMA_DUMP_DIR to one'
      : `point ${source.includes('TSPUMA_DUMP_DIR') ? 'TSPUMA_DUMP_DIR' : 'dumpDir'} at a folder this user can write${e?.code === 'EACCES' || e?.code === 'EPERM' ? `, or fix the permissions of ${resolve(dir)}` : ''}`;
    const problem = e?.code === 'ENOTDIR' ? 'a file stands where a folder of its path should be' : e?.code === 'EEXIST' ? 'a file of that name exists' : e?.syscall === 'mkdir' ? 'this user cannot create it' : 'this user cannot write files in it';
    const warning = new TspumaError('TSPUMA_ERR_DUMP_DIR', { path: resolve(dir), source, problem, osCode: e?.code ?? 'unknown', hint });
    opts.write(`tspuma: ${warning.code}: ${warning.message}\n`);
    env[DUMP_DIR_REFUSED_ENV] = dir;
    return null;
  }
}

/** A dump's note with `more` after it. */
function joinNote(note: string | undefined, more: string): string {
  return note ? `${note}. ${more}` : more;
}

interface SiteRecord {
  first: Dump;
  count: number;
  path: string | null;
  /** This process printed the dump (its #id means something to the reader); false: another worker dumped the site. */
  shown: boolean;
}

export class Sinks {
  private readonly sites = new Map<string, SiteRecord>();
  /** Dumps and their repeats, reported through these sinks. */
  total = 0;
  /** Dumps this process printed (and wrote, with a folder): the rest of `total` are repeats. */
  dumps = 0;
  private readonly host: string;
  private delivery: DumpDelivery | null;
  /** The dump folder, null when none is set or the set one could not be created and written at boot. */
  private readonly dir: string | null;

  constructor(private readonly opts: SinkOptions) {
    this.host = fileHost(opts.host ?? hostname());
    this.delivery = opts.delivery ?? null;
    this.dir = opts.dir ? usableDir(opts) : null;
    if (this.dir) {
      if (opts.run) {
        try {
          clearStaleClaims(this.dir);
        } catch (err) {
          // Another user's claims folder: dumps go on without claims (each worker dumps a site once).
          opts.write(`tspuma: ${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message} Until then each worker writes its own dump of a site.\n`);
        }
      }
    }
  }

  /** The log record of each new dump (recordTo), or null. */
  private record: ((dump: Dump, path: string | null, text: () => string, problem?: string) => void) | null = null;

  /** Sets (or, with null, removes) what writes each new dump as a log record too. */
  recordTo(record: ((dump: Dump, path: string | null, text: () => string, problem?: string) => void) | null): void {
    this.record = record;
  }

  /** Sets (or, with null, removes) the onDump delivery: it is known only once options are. */
  deliverTo(delivery: DumpDelivery | null): void {
    this.delivery = delivery;
  }

  /**
   * Emits a dump (`again`: see own below); returns the path of its .json file (null when not written, e.g. a repeat), and
   * for a new dump not written, why (`problem`: no dump folder, or the coded write failure).
   * `withoutValues`: a dump made without values where the site's next throw pauses (index.ts's
   * stormDumps); in a cluster its claim says so, and the next capture there, in any worker, is dumped.
   */
  emit(dump: Dump, final = false, again = false, withoutValues = false): { repeat: boolean; path: string | null; problem?: string; elsewhere?: true } {
    // A hang is one worker killed: each gets its own files, never folded into an earlier one. So
    // does a `final` failure (an uncaught exception, process.exit(): it ends this process) at a site
    // this process dumped before (its 500 there, then a crash by another path); one at a site only
    // another worker of the run dumped stays that dump's repeat, so a crash loop's respawns write
    // one dump between them, not one each.
    // `again`: the first dump of this site this process made has no values (made during an
    // error-storm back-off, index.ts): this one, captured, takes its place as the site's dump.
    const own = dump.kind === 'hang' || ((final || again) && this.sites.get(dump.site)?.shown === true);
    const known = own ? undefined : this.repeat(dump.site, dump.error);
    if (known) return { repeat: true, path: known.path, ...(known.elsewhere ? { elsewhere: true as const } : {}) };
    this.total++;
    const base = this.dir ? resolve(this.dir, `${dump.time.replace(/[:.]/g, '-')}-${this.host}-${dump.pid}-${String(dump.id).padStart(4, '0')}`) : null;
    const claims = this.dir ?? this.opts.claims ?? null;
    let claimed: string | null = null;
    if (claims && this.opts.run && (!own || (again && dump.kind !== 'hang'))) {
      // Another process of this server dumped this site first: a repeat, with its path (none without a
      // dump folder). Unless that dump has no values and this one, captured, has: the first process to
      // capture a throw there (this one's own `again` included) writes it; the others count its repeats.
      const claim = own ? ({ mine: false, path: null, withoutValues: true } as const) : claimSite(claims, this.opts.run, dump.site, base ? `${base}.json` : '', withoutValues);
      const taken = !claim.mine && claim.withoutValues === true && dump.captured && !withoutValues ? claimValues(claims, this.opts.run, dump.site, base ? `${base}.json` : '') : claim;
      if (!taken.mine) {
        this.sites.set(dump.site, { first: dump, count: 1, path: taken.path, shown: false });
        return { repeat: true, path: taken.path, elsewhere: true };
      }
      claimed = taken === claim ? dump.site : valuesKey(dump.site);
      if (!claim.mine && !own) dump.note = joinNote(dump.note, `another worker dumped this failure first, without values (${claim.path ?? 'printed on its stderr; no dump file'}); this is a later throw of it, paused at and captured in this worker`);
    }
    let problem: string | undefined = base ? undefined : 'no dump folder (TSPUMA_DUMP_DIR or dumpDir)';
    // The plain text of the .txt file, which stands beside its .json.
    const path = base ? this.writeFiles(dump, base, renderText(dump), (why) => (problem = why)) : null;
    // onDump's and the log record's, which stand beside no file: they name the .json, or say there is
    // none: for want of a folder, or because the folder's write failed (a full disk: lead15.1).
    const where = this.valuesWhere(path);
    let plainText: string | undefined;
    const plain = () => (plainText ??= renderText(dump, false, where));
    // Not written (a full or read-only disk): the site's claim goes back, so the dump costs no
    // share of the folder's budget and the next process failing there may write it.
    if (base && path === null && this.opts.run && claimed !== null) releaseSite(this.dir!, this.opts.run, claimed);
    this.sites.set(dump.site, { first: dump, count: 1, path, shown: true });
    this.dumps++;
    // The full text once per site, in CI too: the job log is the first place anyone looks.
    // On stderr the hint names the .json file (or says none was written), not "the one beside this".
    this.opts.write(`${renderText(dump, this.opts.colour, where)}\n${path ? `  written to ${path}\n` : ''}`);
    this.delivery?.deliver(dump, { text: plain(), path });
    // A folder's failed write says why in the record too: stderr's line is not what a collector reads (review20.8).
    this.record?.(dump, path, plain, base && path === null ? problem : undefined);
    if (this.opts.githubActions) {
      const gh = this.opts.github ?? null;
      const command = annotation(dump, gh);
      if (command) this.opts.write(command);
      const problem = gh ? appendSummary(dump, path, gh) : null;
      if (problem) this.opts.write(`tspuma: ${problem}\n`);
    }
    return { repeat: false, path, ...(path === null && problem ? { problem } : {}) };
  }

  /**
   * Where the one-line frames' values of a dump at `path` are, for its footnote (render.ts): its
   * .json file, none for want of a folder, or none because the folder's write failed (a full disk:
   * lead15.1). Stderr, the log record, onDump and the development page's text all say it alike.
   */
  valuesWhere(path: string | null): { valuesFile: string | null } | { valuesElsewhere: string } {
    if (path === null && this.dir) return { valuesElsewhere: `its dump file could not be written in ${this.dir} (the TSPUMA_ERR_FILE_WRITE line says why)` };
    return { valuesFile: path };
  }

  /** Whether a dump of `site` was emitted (here, or by another worker of the run). */
  has(site: string): boolean {
    return this.sites.has(site);
  }

  /** How many times the failure of `site`'s dump has happened (its first included); undefined when no dump of it was emitted. */
  count(site: string): number | undefined {
    return this.sites.get(site)?.count;
  }

  /**
   * Counts a repeat of a site already emitted (null when it was not): the failure of an earlier
   * dump happening again. `error` is the new one's, for the count's line (a function: read only for that line).
   */
  repeat(site: string, error: { name: string; message: string } | (() => { name: string; message: string })): { repeat: true; path: string | null; first: Dump; elsewhere: boolean } | null {
    const known = this.sites.get(site);
    if (!known) return null;
    this.total++;
    known.count++;
    if ([10, 100, 1000, 10000].includes(known.count) || known.count % 100000 === 0) {
      // Which process counts, and where the dump is: each worker of a cluster counts its own
      // repeats, and a site another worker dumped has no dump number here (S11.12).
      const which = known.shown ? `dump #${known.first.id}` : `the dump of another worker, at ${site}`;
      const where = this.opts.who ? ` in ${this.opts.who}` : '';
      const file = known.path ? `; its dump: ${known.path}` : '';
      // A function for a report's repeat (index.ts): its error is read only for this line.
      const e = typeof error === 'function' ? error() : error;
      this.opts.write(`tspuma: the failure of ${which} (${oneLine(`${e.name}: ${e.message}`)}) has happened ${known.count} times${where}${file}\n`);
    }
    // `first` is this process's record of a site another process dumped: a number never shown.
    return { repeat: true, path: known.path, first: known.first, elsewhere: !known.shown };
  }

  /** Writes the pair (synchronously: a crashing process's dump is on disk when emit returns), then trims the folder. */
  private writeFiles(dump: Dump, base: string, text: string, failed: (why: string) => void): string | null {
    // Each file is written whole or not at all (temporary file + rename); the .txt goes first, so
    // a .json (what the folder's bound counts) is never left without it.
    try {
      writePrivateFile(`${base}.txt`, `${text}\n`, 'dump file');
      try {
        writePrivateFile(`${base}.json`, `${JSON.stringify(dump, null, 2)}\n`, 'dump file');
      } catch (err) {
        try {
          unlinkSync(`${base}.txt`);
        } catch {
          /* already gone */
        }
        throw err;
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.opts.write(`tspuma: ${code?.startsWith('TSPUMA_ERR_') ? `${code}: ` : ''}${(err as Error).message}\n`);
      const osCode = (err as { params?: { osCode?: unknown } }).params?.osCode;
      failed(`${code ?? 'error'}${typeof osCode === 'string' ? `, ${osCode}` : ''}: ${(err as Error).message}`);
      return null;
    }
    try {
      trimFolder(this.dir!, this.opts.maxFiles);
    } catch (err) {
      this.opts.write(`tspuma: could not trim the dump folder ${this.dir}: ${(err as Error).message}\n`);
    }
    return `${base}.json`;
  }

  /** The exit summary: count, distinct sites, paths. */
  summary(): string {
    if (this.total === 0) return 'tspuma: no failure dumps in this run';
    const lines = [`tspuma: ${this.total} failure dump(s) at ${this.sites.size} distinct site(s)${this.dir ? ` in ${resolve(this.dir)}` : ''}:`];
    for (const [site, rec] of this.sites) lines.push(`  #${rec.first.id} x${rec.count} ${oneLine(`${rec.first.error.name}: ${rec.first.error.message}`)} at ${site}${rec.path ? ` -> ${rec.path}` : ''}`);
    return lines.join('\n');
  }
}
