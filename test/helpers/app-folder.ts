// A temporary app folder for integration tests (an ESM package.json and the given files, 0755 so a
// run as nobody can read it), removed after the file's tests (test/helpers/temp.ts).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp.js';

/**
 * A folder of apps as a user would have one: an ESM package.json and `files` (name -> text), 0755
 * so a test may run the CLI in it as nobody; removed after the test file. Call at a file's top level.
 */
export function appFolder(prefix: string, files: Record<string, string>): string {
  const root = tempDir(prefix);
  chmodSync(root, 0o755);
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text);
  return root;
}
