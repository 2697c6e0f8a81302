// server/request-id.ts's own ids: a per-process prefix, then the counter in base 36, built from the
// digits but the last (redone every 36 ids) and the last digit. Pinned against the counter's
// plain base-36 text across each place a digit is added (36, 36², 36³).
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../server/request-id.js';

describe('newRequestId', () => {
  it("makes the prefix and the counter's base-36 text, id after id, past 36, 1,296 and 46,656", () => {
    const first = newRequestId();
    const match = /^([0-9a-f]{8}-)([0-9a-z]+)$/.exec(first);
    expect(match).not.toBeNull();
    const prefix = match![1]!;
    const start = parseInt(match![2]!, 36);
    const wrong: string[] = [];
    for (let n = start + 1; n <= 50_000; n++) {
      const id = newRequestId();
      if (id !== prefix + n.toString(36)) wrong.push(`${n}: ${id}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(newRequestId()).toBe(`${prefix}${(50_001).toString(36)}`);
  });
});
