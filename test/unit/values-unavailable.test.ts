// The expression a live stack or an autopsy runs in the inspected process before it pauses
// (inspector/remote.ts VALUES_UNAVAILABLE) notes the V8 flag it sets where the chunk code caches
// read the run-time flags (review18.1): a cache written at that process's exit under an unnoted
// flag was refused by the next boot.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { VALUES_UNAVAILABLE } from '../../inspector/remote.js';
import { RUN_TIME_FLAGS_KEY } from '../../server/shared-names.js';

/** The run-time flags a fresh node process has noted after `runs` evaluations of the expression. */
function notedAfter(runs: number, before = ''): unknown {
  const script = `${before}\n${Array.from({ length: runs }, () => `${VALUES_UNAVAILABLE};`).join('\n')}\nprocess.stdout.write(JSON.stringify(globalThis[Symbol.for(${JSON.stringify(RUN_TIME_FLAGS_KEY)})] ?? null));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));
}

describe("a live stack's --experimental-value-unavailable", () => {
  it('is noted among the run-time V8 flags, once however many stacks are read', () => {
    expect(notedAfter(1)).toEqual([['--experimental-value-unavailable', '--no-experimental-value-unavailable']]);
    expect(notedAfter(3)).toEqual([['--experimental-value-unavailable', '--no-experimental-value-unavailable']]);
  });

  it("is not noted again in a -d process whose capture noted it already, after capture's own flags", () => {
    const captured = `globalThis[Symbol.for(${JSON.stringify(RUN_TIME_FLAGS_KEY)})] = [['--no-analyze-environment-liveness', '--analyze-environment-liveness'], ['--experimental-value-unavailable', '--no-experimental-value-unavailable']];`;
    expect(notedAfter(2, captured)).toEqual([
      ['--no-analyze-environment-liveness', '--analyze-environment-liveness'],
      ['--experimental-value-unavailable', '--no-experimental-value-unavailable'],
    ]);
  });
});
