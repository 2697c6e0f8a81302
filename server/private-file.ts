// Files that may hold a secret (the state file's control token, dump files, heap snapshots):
// such files are readable by their owner only, 0600 whatever mode
// a file already at that path had, and the folders tspuma creates for them are 0700.
import { closeSync, fchmodSync, mkdirSync, openSync, writeFileSync } from 'node:fs';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates `dir` and any missing parents 0700; a folder that exists is left as its owner made it. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Opens `path` for writing, truncated and 0600: `open` applies a mode only when it creates the
 * file, so an existing file is chmod-ed through its descriptor before a byte is written.
 */
export function openPrivateFile(path: string): number {
  const fd = openSync(path, 'w', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Writes `data` to `path` (replacing it) readable by its owner only. */
export function writePrivateFile(path: string, data: string): void {
  const fd = openPrivateFile(path);
  try {
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
