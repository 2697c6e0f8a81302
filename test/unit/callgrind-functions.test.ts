// bench/callgrind-functions.ts: self instructions by function and the inclusive cost of calls to
// a matched callee by caller, from a callgrind dump taken with --dump-instr=yes and a perf map
// naming the JIT code's address ranges. A small dump written by hand, in callgrind's format
// (position compression: a `+N`/`-N` address is relative to the previous one).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callersOf, readPerfMap, selfByFunction } from '../../bench/callgrind-functions.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'callgrind-functions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Two JIT functions (0x1000-0x10ff and 0x2000-0x20ff) and one builtin (0x3000-0x30ff).
const MAP = ['1000 100 JS:*parserOnIncoming node:_http_server:1026:26', '2000 100 JS:~OutgoingMessage node:_http_outgoing:102:25', '3000 100 Builtin:StoreIC', ''].join('\n');

const DUMP = [
  'version: 1',
  'positions: instr line',
  'events: Ir',
  'fn=(1) 0x0000000000001000',
  '0x1000 0 50',
  '+4 0 10',
  'cfn=(3) 0x0000000000003000',
  'calls=2 0x3000 0',
  '+4 0 400',
  'fn=(2) 0x0000000000002000',
  '0x2000 0 7',
  'cfn=(3)',
  'calls=1 0x3000 0',
  '+8 0 120',
  'cfn=(4) malloc',
  'calls=1 0x9000 0',
  '+4 0 99',
  'fn=(3)',
  '0x3000 0 520',
  'fn=(4)',
  '0x9000 0 99',
  '',
].join('\n');

describe('callgrind-functions', () => {
  const mapFile = path.join(dir, 'perf.map');
  const dumpFile = path.join(dir, 'cg.out');
  writeFileSync(mapFile, MAP);
  writeFileSync(dumpFile, DUMP);
  const ranges = readPerfMap(mapFile);

  it('counts self instructions by the JIT function holding each address, not the inclusive cost of calls', () => {
    const self = selfByFunction(dumpFile, ranges);
    expect(self.get('parserOnIncoming node:_http_server:1026:26')).toBe(60);
    expect(self.get('OutgoingMessage node:_http_outgoing:102:25')).toBe(7);
    expect(self.get('Builtin:StoreIC')).toBe(520);
    expect(self.get('malloc')).toBe(99);
  });

  it("charges each call of a matched callee to its caller, inclusive, and leaves other callees' calls out", () => {
    const callers = callersOf(dumpFile, ranges, /StoreIC$/);
    expect([...callers].sort()).toEqual([
      ['OutgoingMessage node:_http_outgoing:102:25 -> Builtin:StoreIC', 120],
      ['parserOnIncoming node:_http_server:1026:26 -> Builtin:StoreIC', 400],
    ]);
  });
});
