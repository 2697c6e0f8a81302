// A temporary app folder for integration tests (an ESM package.json and the given files, 0755 so a
// run as nobody can read it), removed after the file's tests. Apart from cli.ts because it
// registers a vitest hook: cli.ts is also imported by scripts run outside vitest
// (test/adversarial/shapes.ts, through `npm run adversarial`), where importing vitest throws.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * A folder of apps as a user would have one: an ESM package.json and `files` (name -> text), 0755
 * so a test may run the CLI in it as nobody; removed after the test file. Call at a file's top level.
 */
export function appFolder(prefix: string, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), `tspuma-${prefix}-`));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text);
  return root;
}
