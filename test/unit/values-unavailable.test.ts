// The expression a live stack or an autopsy runs in the inspected process before it pauses
// (inspector/remote.ts VALUES_UNAVAILABLE) notes the V8 flag it sets where the chunk code caches
// read the run-time flags (review18.1): a cache written at that process's exit under an unnoted
// flag was refused by the next boot.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { DumpFrame } from '../../diagnostics/model.js';
import { VALUES_UNAVAILABLE, stackDump, type LiveStack } from '../../inspector/remote.js';
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

describe("a live stack's note on <value unavailable>", () => {
  const frame = (fn: string, library: boolean, locals: DumpFrame['locals']): DumpFrame => ({ function: fn, file: library ? 'node:events' : 'app.ts', line: 1, column: 1, receiver: 'undefined', locals, ...(library ? { library: true, origin: 'node' as const } : { origin: 'app' as const }) });
  const live = (frames: DumpFrame[]): LiveStack => ({ idle: false, waitedMs: 0, frames, redactions: [], inFlight: [], process: { pid: 1, node: 'v20', rssBytes: 0, heapUsedBytes: 0, uptimeSeconds: 0 } });
  const unavailable = { summary: '<value unavailable>' };
  const noteOf = (frames: DumpFrame[]) => stackDump(live(frames), 'stack', { name: 'LiveStack', message: 'm', code: null, causes: [] }, 0).note;

  it("is given for a local of a frame the text shows with its values (the app's), not for one in node's frames, which the text shows without values (review19.5)", () => {
    // A -d worker's live stack: node's Server.emit had `result` unavailable (a let not reached),
    // and the dump told the reader of a -d server to start with -d, about a value it did not show.
    expect(noteOf([frame('app', false, { until: 5 }), frame('Server.emit', true, { result: unavailable })])).toBeUndefined();
    expect(noteOf([frame('app', false, { url: unavailable }), frame('Server.emit', true, {})])).toMatch(/<value unavailable>.*-d/);
  });
});
