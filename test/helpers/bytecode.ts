// V8's bytecode length of one function of a built module, and V8's size limit for inlining a
// function: for the tests that keep debug mode's wrappers small enough for node's callers to
// inline (call-context.test.ts, attribution.test.ts; bench/README.md, sessions 19 and 20).
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';

/** The bytecode length V8 gives the function named `fn` once `script` (an ES module's text) has run it; one listing expected. */
export function bytecodeLength(script: string, fn: string): number {
  const out = execFileSync(process.execPath, ['--print-bytecode', `--print-bytecode-filter=${fn}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
  const lengths = [...out.matchAll(/^Bytecode length: (\d+)$/gm)].map((m) => Number(m[1]));
  expect(lengths, `one bytecode listing of ${fn}`).toHaveLength(1);
  return lengths[0]!;
}

/** V8's --max-inlined-bytecode-size: a function with more bytecode is never inlined. */
export function inliningLimit(): number {
  const flags = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const limit = Number(/--max-inlined-bytecode-size=(\d+)/.exec(flags)?.[1]);
  expect(limit).toBeGreaterThan(0);
  return limit;
}
