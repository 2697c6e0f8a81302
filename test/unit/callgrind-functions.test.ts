// bench/callgrind-functions.ts: self instructions by function and the inclusive cost of calls to
// a matched callee by caller, from a callgrind dump taken with --dump-instr=yes and a perf map
// naming the JIT code's address ranges. A small dump written by hand, in callgrind's format
// (position compression: a `+N`/`-N` address is relative to the previous one).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callersOf, latestOwners, readPerfMap, selfByFunction } from '../../bench/callgrind-functions.js';

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

  it('gives each address to the last perf map entry covering it, where V8 put new code over freed code', () => {
    // finished's code at 0x4000-0x40ff, freed; then onRequest at 0x4040-0x405f and, at the same
    // start as the first, a short toKeepalive (0x4000-0x400f).
    const owners = latestOwners([
      { start: 0x4000, end: 0x4100, name: 'finished' },
      { start: 0x4040, end: 0x4060, name: 'onRequest' },
      { start: 0x4000, end: 0x4010, name: 'toKeepalive' },
    ]);
    expect(owners.map((r) => [r.start.toString(16), r.end.toString(16), r.name])).toEqual([
      ['4000', '4010', 'toKeepalive'],
      ['4010', '4040', 'finished'],
      ['4040', '4060', 'onRequest'],
      ['4060', '4100', 'finished'],
    ]);
    const mapFile2 = path.join(dir, 'overlap.map');
    writeFileSync(mapFile2, ['4000 100 JS:*finished file:///x/dist/server/request-lifecycle.js:1:1', '4040 20 JS:*onRequest file:///x/dist/server/request-lifecycle.js:2:1', ''].join('\n'));
    const dump2 = path.join(dir, 'overlap.out');
    writeFileSync(dump2, ['version: 1', 'positions: instr line', 'events: Ir', 'fn=(1) 0x0000000000004000', '0x4010 0 5', '+40 0 7', '+40 0 11', ''].join('\n'));
    const self = selfByFunction(dump2, readPerfMap(mapFile2));
    expect(self.get('onRequest dist/server/request-lifecycle.js:2:1')).toBe(7);
    expect(self.get('finished dist/server/request-lifecycle.js:1:1')).toBe(16);
  });
});
