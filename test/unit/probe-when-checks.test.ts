// inspector/probe-when-checks.ts on its own, with V8's answers given: what the warning of a --when
// that throws at its first pass says about the name it could not read.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { FrameReads, PausedFrame } from '../../inspector/probe-frame-reads.js';
import { WhenChecks, type WhenChecksHost } from '../../inspector/probe-when-checks.js';
import type { TspumaError } from '../../server/errors.js';
import type { ProbeSpec } from '../../server/probe-spec.js';
import { captureLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

type Armed = { spec: ProbeSpec; where: string; whenAt: Map<string, string> };

function firstPass(thrown: string, frames?: PausedFrame[]): { msg: string; removed: boolean } {
  const cap = captureLogger();
  let removed = false;
  const reads = {
    evaluate: () => ({ exceptionDetails: { text: 'Uncaught', exception: { type: 'object', description: `${thrown}\n    at eval (eval at find, <anonymous>:1:3)` } } }),
    onlyRequestReads: () => false,
    scopeNames: (f: PausedFrame) => (f.callFrameId === 'f0' ? ['id', 'quote'] : ['env']),
  } as unknown as FrameReads;
  const host: WhenChecksHost<Armed, { key: string }> = {
    reads, log: cap.logger, worker: 0, compiledNames: (_s, _t, e) => e, rearm: () => undefined, sideEffect: () => undefined,
    removed: (_a: Armed, _e: TspumaError) => { removed = true; },
  };
  const armed: Armed = { spec: { id: 4, when: 'quote.total > 100' } as ProbeSpec, where: 'src/orders.ts:12', whenAt: new Map() };
  const top = { callFrameId: 'f0', functionName: 'find' } as unknown as PausedFrame;
  expect(new WhenChecks(host).check(armed, { key: 's' }, top, frames ? [top, ...frames] : undefined)).toBe(false);
  return { msg: String(cap.lines.find((l) => l.code === 'TSPUMA_ERR_PROBE_WHEN_THROWS')?.msg), removed };
}

describe('a --when that throws a ReferenceError at its first pass', () => {
  it("on a name in scope but not set yet (V8 under -d: \"Cannot access 'quote' from debugger\"; or \"before initialization\"): removed, saying the name is declared on this line or below, not that it is out of scope", () => {
    for (const thrown of ["ReferenceError: Cannot access 'quote' from debugger", "ReferenceError: Cannot access 'quote' before initialization"]) {
      const r = firstPass(thrown);
      expect(r.removed, thrown).toBe(true);
      expect(r.msg, thrown).toContain(`threw ${thrown} at its first pass in worker 0; removed: \`quote\` is declared on this line or below it and is not set yet when the line starts, so the condition would throw at every pass (V8 takes that as false): probe the line after its declaration.`);
      expect(r.msg, thrown).not.toContain('not in scope');
    }
  });

  it('on a name not in scope (a typo): removed, saying so', () => {
    const r = firstPass('ReferenceError: qoute is not defined');
    expect(r.removed).toBe(true);
    expect(r.msg).toContain('removed: it reads a name that is not in scope at this line');
  });

  it("on a name of a function further up the stack: names that function as its source does, not as a bundled chunk renamed it (`invoke2`: names1.1)", () => {
    // A chunk's name table beside it, as scripts/chunk-names.mjs writes one (server/name-tables.ts reads it).
    const dir = tempDir('when-names');
    try {
      const chunk = join(dir, 'serving.chunk.js');
      writeFileSync(`${chunk}.names.json`, JSON.stringify({ names: { invoke2: 'invoke', RequestLifecycle2: 'RequestLifecycle' } }));
      const owner = { callFrameId: 'f1', functionName: 'RequestLifecycle2.invoke2', url: pathToFileURL(chunk).href } as unknown as PausedFrame;
      const r = firstPass('ReferenceError: env is not defined', [owner]);
      expect(r.removed).toBe(true);
      expect(r.msg).toContain('removed: `env` is a name of a function further up the stack (RequestLifecycle.invoke), which this function does not use');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
