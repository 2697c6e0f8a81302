// The types of the tests, the examples and vitest.config.ts (tsconfig.test.json, against the built
// declarations of server/, diagnostics/ and inspector/), checked as one test of the run rather than
// before it: `npm test` used to run this tsc (11 s of CPU in a fresh clone, where its incremental
// cache is empty) alone before vitest started, with one of two cores idle; as a test it runs beside
// the others. `npm run typecheck` is the same command.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';

/** package.json's `typecheck` script, read from it: this test runs what `npm run typecheck` runs. */
function typecheckArgs(): string[] {
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.typecheck!;
  const [command, ...args] = script.split(/\s+/);
  expect(command).toBe('tsc');
  return args;
}

it('test/, examples/ and vitest.config.ts type-check: `npm run typecheck` (tsc -p tsconfig.test.json --noEmit) exits 0 with no error', async () => {
  const args = typecheckArgs();
  const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  tsc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  tsc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => tsc.on('close', resolve));
  expect(out).not.toMatch(/error TS\d+/);
  expect(code, out).toBe(0);
}, 180_000 * SLOWNESS);
