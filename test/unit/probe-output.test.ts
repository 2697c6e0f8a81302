// inspector/probe-output.ts's logpoint line on its own, with the template's reads given: what a
// read that threw shows.
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { ProbeOutput, type Hit, type ProbeOutputDeps, type TemplateReads } from '../../inspector/probe-output.js';
import type { ProbeSpec } from '../../server/probe-spec.js';
import { captureLogger } from '../helpers/server.js';

function logLineOf(thrown: Record<string, string>): string {
  const cap = captureLogger();
  const deps = { log: cap.logger, worker: 0, redactor: new Redactor(), heldMs: () => 1, reader: { show: (r: { value: unknown }) => r.value } } as unknown as ProbeOutputDeps;
  const hit: Hit = { spec: { id: 7 } as ProbeSpec, parts: [{ text: 'id=' }, { expr: 'id' }, { text: ' total=' }, { expr: 'total' }], where: 'src/orders.ts:9', paused: 1 };
  const reads: TemplateReads = {
    paused: true,
    evaluate: (expr) => (expr in thrown ? { exceptionDetails: { text: 'Uncaught', exception: { type: 'object', description: thrown[expr] } } } : { result: { type: 'number', value: 7, description: '7' } }) as ReturnType<TemplateReads['evaluate']>,
    enclosing: () => null,
  };
  expect(new ProbeOutput(deps).logLine(hit, reads, null, null)).toBeNull();
  return String(cap.lines.find((l) => l.probe === 7)?.msg);
}

describe('a logpoint template value that threw', () => {
  it("says a const the probed line declares is not set yet (V8: \"Cannot access 'total' from debugger\", read at a pause before the line runs), and shows any other error as thrown", () => {
    expect(logLineOf({ total: "ReferenceError: Cannot access 'total' from debugger\n    at eval (eval at charge (file:///srv/orders.ts:9:3), <anonymous>:1:1)" })).toBe(
      'probe 7 src/orders.ts:9: id=7 total=<total is not set yet: a probe stops before its line runs, so a const or let declared on this line or below has no value here; probe the next line>',
    );
    expect(logLineOf({ total: "TypeError: Cannot read properties of undefined (reading 'x')\n    at eval" })).toBe("probe 7 src/orders.ts:9: id=7 total=<TypeError: Cannot read properties of undefined (reading 'x')>");
  });
});
