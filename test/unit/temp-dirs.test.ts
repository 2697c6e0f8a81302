// Unit: the tests' temporary folders (test/helpers/temp.ts): made under the system's temporary
// folder with the tspuma- prefix, removed at the file's end, kept and named when a case failed.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { settleTempDirs, tempDir } from '../helpers/temp.js';

describe('temporary folders of a test file', () => {
  it('are made as tspuma-PREFIX-XXXXXX in the temporary folder and removed, with what they hold, when the file passed', () => {
    const a = tempDir('temp-dirs');
    const b = tempDir('temp-dirs-b');
    writeFileSync(join(a, 'x.json'), '{}');
    expect(dirname(a)).toBe(tmpdir());
    expect(basename(a)).toMatch(/^tspuma-temp-dirs-\w{6}$/);
    expect(basename(b)).toMatch(/^tspuma-temp-dirs-b-\w{6}$/);
    expect(settleTempDirs('test/unit/x.test.ts', false)).toBeNull();
    expect([existsSync(a), existsSync(b)]).toEqual([false, false]);
  });

  it('are kept when a case of the file failed, each named on a line of its own, and then left off the ledger', () => {
    const a = tempDir('temp-dirs');
    const b = tempDir('temp-dirs');
    expect(settleTempDirs('test/unit/x.test.ts', true)).toBe(`test/unit/x.test.ts failed: its temporary folders are kept for diagnosis:\n  ${a}\n  ${b}\n`);
    expect([existsSync(a), existsSync(b)]).toEqual([true, true]);
    // Kept folders are not the next file's: a passing settle after leaves them alone.
    expect(settleTempDirs('test/unit/y.test.ts', false)).toBeNull();
    expect([existsSync(a), existsSync(b)]).toEqual([true, true]);
    expect(settleTempDirs('test/unit/y.test.ts', true)).toBeNull();
    // This case's own folders: not left behind.
    for (const d of [a, b]) rmSync(d, { recursive: true });
  });

  // A folder made another way outlives the run (180 of them a run before the helper). Fixtures run
  // as processes of their own (no ledger there) and remove what they make themselves.
  it('are made through tempDir by every test file and helper: no other mkdtemp in test/integration, test/unit or test/helpers', () => {
    const others = ['integration', 'unit', 'helpers'].flatMap((folder) =>
      readdirSync(join(ROOT, 'test', folder))
        .filter((name) => /\.(ts|mjs)$/.test(name) && !(folder === 'helpers' && name === 'temp.ts'))
        .flatMap((name) => readFileSync(join(ROOT, 'test', folder, name), 'utf8').split('\n').flatMap((line, i) => (/\bmkdtemp(Sync)?\(/.test(line) ? [`test/${folder}/${name}:${i + 1}`] : []))),
    );
    expect(others, "make these with tempDir(prefix) from test/helpers/temp.ts (removed after the file, kept when it fails)").toEqual([]);
  });
});
