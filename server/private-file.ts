// Files tspuma writes where others may also write (the state file and its control token, the
// pidfile, dump files, heap snapshots): written to a temporary file created exclusively beside
// the target (O_EXCL|O_NOFOLLOW, so no symlink or file planted there is followed), then renamed
// over it, so a reader never sees half a file and a failed write (ENOSPC, EROFS) leaves nothing.
// A target that is a symlink, not a regular file, or owned by another user is refused with a
// coded error naming it. Files that may hold a secret are 0600, in 0700 folders tspuma creates.
import { accessSync, closeSync, constants, existsSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PATH_UNCHANGED, TspumaError } from './errors.js';
import { randomHex } from './lazy-crypto.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
/** A pidfile: readable by every user (`kill $(cat pidfile)`), writable by its owner. */
export const PUBLIC_FILE_MODE = 0o644;

/** Creates `dir` and any missing parents 0700; a folder that exists is left as its owner made it. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates `dir` as ensurePrivateDir does, then creates and removes an empty file in it: a folder
 * this user cannot create or write fails here, at boot, rather than at the first file written.
 * Throws the OS error (EACCES, ENOTDIR, EROFS...).
 */
export function probeWritableDir(dir: string): void {
  ensurePrivateDir(dir);
  const probe = join(dir, `.tspuma-probe-${process.pid}-${randomHex(4)}`);
  closeSync(openSync(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, PRIVATE_FILE_MODE));
  unlinkSync(probe);
}

export interface FileRules {
  /** What the file is, for the error message: "state file (-S)", "pidfile", "dump file". */
  readonly what: string;
  /** The mode the file gets (default 0600). */
  readonly mode?: number;
  /** The user the target must belong to if it exists (default this process's uid). */
  readonly uid?: number;
}

const ownUid = (): number | null => (typeof process.getuid === 'function' ? process.getuid() : null);

/**
 * Throws TSPUMA_ERR_FILE_UNSAFE if `path` exists and is a symbolic link, not a regular file, or
 * owned by another user than `rules.uid`: such a file was put there by someone else, who could
 * read what tspuma writes or have it overwrite a file of theirs choosing.
 */
export function checkTarget(path: string, rules: FileRules): void {
  let st;
  try {
    // A missing target is the usual case: no throw for it (one would pause a debug-mode process).
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    throw writeError(path, rules, err);
  }
  if (st === undefined) return;
  const problem = unsafeProblem(path, st, rules, 'file');
  if (problem) throw new TspumaError('TSPUMA_ERR_FILE_UNSAFE', { what: rules.what, path, problem });
}

/**
 * Throws TSPUMA_ERR_FILE_WRITE if the folder of `path` cannot take a new file (missing, read-only,
 * not this user's to write): a cluster checks its pidfile and state file so before it forks its
 * workers (a pidfile written once they ran failed after they booted, T12.7).
 */
export function checkFolderTakesFile(path: string, rules: FileRules): void {
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    throw writeError(path, rules, err);
  }
}

/** Why `path` (its lstat `st`) is not safe for tspuma to use as its own file or folder, or null. */
function unsafeProblem(path: string, st: Stats, rules: FileRules, kind: 'file' | 'folder'): string | null {
  if (st.isSymbolicLink()) return linkProblem(path);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) return kind === 'file' ? 'it is not a regular file' : 'it is not a folder';
  const uid = rules.uid ?? ownUid();
  if (uid === null || st.uid === uid) return null;
  const risk = kind === 'file' ? 'read or redirect what is written' : 'read or plant what is kept there';
  return `it belongs to uid ${st.uid}, not to this process's uid ${uid}: whoever created it could ${risk}`;
}

/**
 * Throws TSPUMA_ERR_FILE_UNSAFE if the folder `path` (tspuma's own, inside a folder others may
 * write) is a symbolic link, not a folder, or another user's: writing into it would put tspuma's
 * files where that user chose, and let them plant what tspuma reads there. A missing one passes.
 */
export function checkPrivateDir(path: string, rules: FileRules): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return;
  const problem = unsafeProblem(path, st, rules, 'folder');
  if (problem) throw new TspumaError('TSPUMA_ERR_FILE_UNSAFE', { what: rules.what, path, problem });
}

/** What is wrong with a symbolic link where tspuma would write. */
function linkProblem(path: string): string {
  let to = '?';
  try {
    to = readlinkSync(path);
  } catch {
    /* removed meanwhile */
  }
  return `it is a symbolic link (to ${JSON.stringify(to)}); tspuma never writes through one`;
}

/** Node's text of an OS error without its leading code ('EACCES: permission denied, open …'), which the messages say once, in parentheses. */
function withoutCode(message: string, osCode: string | undefined): string {
  return osCode && message.startsWith(`${osCode}: `) ? message.slice(osCode.length + 2) : message;
}

/** TSPUMA_ERR_FILE_WRITE for `path` from the OS error that failed its write (ENOSPC, EIO…). */
export function writeError(path: string, rules: FileRules, err: unknown): TspumaError {
  const e = err as NodeJS.ErrnoException;
  return new TspumaError('TSPUMA_ERR_FILE_WRITE', { what: rules.what, path, message: withoutCode(e?.message ?? String(err), e?.code), osCode: e?.code ?? 'unknown' }, { cause: err });
}

/**
 * TSPUMA_ERR_PIDFILE for a pidfile that could not be written: what failed said once (T12.7: the
 * nested TSPUMA_ERR_FILE_WRITE text read "Cannot write pidfile … : Cannot write the pidfile …
 * (EACCES): EACCES: permission denied …").
 */
export function pidfileError(path: string, source: string, err: unknown): TspumaError {
  const params = err instanceof TspumaError && err.code === 'TSPUMA_ERR_FILE_WRITE' ? err.params : null;
  const message = params ? `${String(params.message)} (${String(params.osCode)}). ${PATH_UNCHANGED}` : (err as Error)?.message ?? String(err);
  return new TspumaError('TSPUMA_ERR_PIDFILE', { path, source, message }, { cause: err });
}

/** A file being written: bytes go to a temporary file beside the target until commit() renames it. */
export interface PendingFile {
  readonly fd: number;
  readonly path: string;
  /** Closes (after fsync) and renames over the target; on failure removes the temporary file and throws TSPUMA_ERR_FILE_WRITE. */
  commit(): void;
  /** Closes and removes the temporary file: the target is left as it was. */
  abort(): void;
}

/**
 * Opens a temporary file beside `path` (exclusive create, no symlink followed, `rules.mode`),
 * after checking the target. Errors are coded and name the file.
 */
export function beginFile(path: string, rules: FileRules): PendingFile {
  checkTarget(path, rules);
  const mode = rules.mode ?? PRIVATE_FILE_MODE;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomHex(4)}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (err) {
    throw writeError(path, rules, err);
  }
  let open = true;
  const discard = () => {
    if (open) {
      open = false;
      try {
        closeSync(fd);
      } catch {
        /* closed */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created or already gone */
    }
  };
  try {
    fchmodSync(fd, mode); // the umask may have taken bits off (0644 under umask 077)
  } catch (err) {
    discard();
    throw writeError(path, rules, err);
  }
  return {
    fd,
    path,
    commit() {
      try {
        fsyncSync(fd);
        open = false;
        closeSync(fd);
        // The target again, just before it is replaced: rename replaces a link itself, never its target.
        checkTarget(path, rules);
        renameSync(tmp, path);
      } catch (err) {
        discard();
        throw err instanceof TspumaError ? err : writeError(path, rules, err);
      }
    },
    abort: discard,
  };
}

/** Writes `data` to `path` as a whole (temporary file + rename); see beginFile. */
export function writeFileSafely(path: string, data: string | Uint8Array, rules: FileRules): void {
  const file = beginFile(path, rules);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(file.fd, bytes, at, bytes.length - at);
  } catch (err) {
    file.abort();
    throw writeError(path, rules, err);
  }
  file.commit();
}

/** Writes `data` to `path` (replacing it) readable by its owner only. */
export function writePrivateFile(path: string, data: string, what = 'private file'): void {
  writeFileSafely(path, data, { what, mode: PRIVATE_FILE_MODE });
}

/**
 * Sets `fields` of a JSON file written by writePrivateFile (a state file), keeping the rest; false
 * when the file is gone (removed at stop). Throws what reading, parsing or writing throws.
 */
export function updatePrivateJson(path: string, fields: Record<string, unknown>, what: string): boolean {
  if (!existsSync(path)) return false;
  const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  writePrivateFile(path, `${JSON.stringify({ ...data, ...fields }, null, 2)}\n`, what);
  return true;
}
