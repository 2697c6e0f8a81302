// The tests' temporary folders (tspuma-PREFIX-XXXXXX in the system's temporary folder), one ledger
// for every file: each-file.ts's last afterAll removes the folders a test file made, after the
// file's own hooks have stopped the processes that write there. A file with a failed case (or
// hook) keeps them for diagnosis, and that hook names each one on stderr. No vitest import:
// helpers that scripts outside vitest load (cli.ts through test/adversarial/shapes.ts) may use it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * On globalThis, not in this module: a fork runs many files (isolate: false) and each file's
 * setup (each-file.ts) must see the folders of the file, whichever module instance made them.
 */
const LEDGER = Symbol.for('tspuma.test.tempDirs');
function ledger(): string[] {
  const g = globalThis as { [LEDGER]?: string[] };
  return (g[LEDGER] ??= []);
}

/**
 * A new folder `tspuma-PREFIX-XXXXXX` in `parent` (the system's temporary folder unless a case needs
 * another, such as /tmp itself), removed after the test file (kept and named if a case failed).
 */
export function tempDir(prefix: string, parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `tspuma-${prefix}-`));
  ledger().push(dir);
  return dir;
}

/**
 * At a test file's end: removes the folders it made, or, when `failed`, keeps them and returns the
 * line that names them (null when there is nothing to say).
 */
export function settleTempDirs(file: string, failed: boolean): string | null {
  const dirs = ledger().splice(0);
  if (failed) return dirs.length === 0 ? null : `${file} failed: its temporary folders are kept for diagnosis:\n${dirs.map((d) => `  ${d}\n`).join('')}`;
  // Retried, as debug-boot-sources' own removal was: a late write while rmSync walks a folder fails it (ENOTEMPTY).
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  return null;
}
