// The types of the tests, the examples and vitest.config.ts (tsconfig.test.json, against the built
// declarations of server/, diagnostics/ and inspector/), checked as one test of the run rather than
// before it: `npm test` used to run this check alone before vitest started, with one of two cores
// idle. `npm run typecheck` is the same command, read from package.json. It is tsgo, the native
// TypeScript compiler (@typescript/native-preview): 2.0 s of CPU against tsc's 10.8 s in a fresh
// clone, with the same diagnostics on the errors tried (a wrong type, a missing export); the build
// (tsc -b) still checks the sources themselves with tsc.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';

/** package.json's `typecheck` script: its command (a bin of node_modules/.bin) and arguments. */
function typecheckCommand(): { bin: string; args: string[] } {
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.typecheck!;
  const [command, ...args] = script.split(/\s+/);
  return { bin: join(ROOT, 'node_modules/.bin', command!), args };
}

/**
 * Run single-threaded here: inside the suite both cores are busy with other files, and tsgo's
 * checker threads cost CPU of their own (a full check at load 25-36: 5.09, 4.85 s of CPU with its
 * threads, 3.87, 3.79 s with --singleThreaded, the same diagnostics). `npm run typecheck` alone
 * keeps its threads.
 */
const IN_SUITE = ['--singleThreaded'];

it('test/, examples/ and vitest.config.ts type-check: `npm run typecheck` (tsconfig.test.json, --noEmit; single-threaded) exits 0 with no error', async () => {
  const { bin, args } = typecheckCommand();
  const tsc = spawn(bin, [...args, ...IN_SUITE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  tsc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  tsc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => tsc.on('close', resolve));
  expect(out).not.toMatch(/error TS\d+/);
  expect(code, out).toBe(0);
}, 120_000 * SLOWNESS);
