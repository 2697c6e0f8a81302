// diagnostics/heap-limit.ts's line on its own: the request it names is shown as dumps and request
// lines show it, its secret query values redacted (review11.5).
import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../diagnostics/call-record.js';
import { writeHeapLimitLine } from '../../diagnostics/heap-limit.js';
import { Redactor } from '../../diagnostics/redact.js';

describe('the heap-limit line', () => {
  it("redacts the secret query values of the request it names (token=, the configured redact names), as the in-app list beside it does", () => {
    const record = { req: { method: 'GET', id: 'abc-1', headers: {} }, url: '/leak?token=OOMSECRET123456&ssn=123-45-6789&page=2' } as unknown as CallRecord;
    let line = '';
    writeHeapLimitLine(record, 'app (src/app.ts:4:7)', (t) => void (line = t), new Redactor('ssn'));
    expect(line).toMatch(/^tspuma: the JavaScript heap reached its limit in GET \/leak\?token=\[redacted\]&ssn=\[redacted\]&page=2 \(request abc-1\), at app \(src\/app\.ts:4:7\)/);
    expect(line).not.toContain('OOMSECRET123456');
    expect(line).not.toContain('123-45-6789');
  });
});
