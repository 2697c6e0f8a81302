// balanceConnections' rule (server/cluster/connection-share.ts): how many keep-alive connections a
// worker over its share of the cluster's is told to close.
import { describe, expect, it } from 'vitest';
import { excessConnections, movable } from '../../server/cluster/connection-share.js';

describe('excessConnections', () => {
  it('a worker holding all or most of the connections closes those above the share (total over workers, rounded up)', () => {
    expect(excessConnections([10, 0], 0)).toBe(5);
    expect(excessConnections([8, 2], 0)).toBe(3);
    expect(excessConnections([2, 0], 0)).toBe(1);
    expect(excessConnections([9, 1, 2], 0)).toBe(5);
  });
  it('leaves a worker at or under its share, a spread of one and a near-even split: 5/5, 6/5, 6/4, 55/45, 1/0 (a single connection) and the lighter side move nothing', () => {
    expect(excessConnections([5, 5], 0)).toBe(0);
    expect(excessConnections([6, 5], 0)).toBe(0);
    expect(excessConnections([6, 4], 0)).toBe(0);
    expect(excessConnections([55, 45], 0)).toBe(0);
    expect(excessConnections([7, 3], 0)).toBe(2);
    expect(excessConnections([65, 35], 0)).toBe(15);
    expect(excessConnections([1, 0], 0)).toBe(0);
    expect(excessConnections([8, 2], 1)).toBe(0);
    expect(excessConnections([0, 0], 0)).toBe(0);
  });
  it('moves nothing with one worker', () => {
    expect(excessConnections([10], 0)).toBe(0);
  });
  it('counts every state a Connection: close can move, not upgraded or streaming connections', () => {
    expect(movable({ first_data: 1, reading: 2, app: 3, keepalive: 4 })).toBe(10);
    expect(movable({ first_data: 0, reading: 0, app: 0, keepalive: 0, upgraded: 7, streaming: 9 } as Parameters<typeof movable>[0])).toBe(0);
  });
});
