// bench/callgrind-functions.ts: self instructions by function and the inclusive cost of calls to
// a matched callee by caller, from a callgrind dump taken with --dump-instr=yes and a perf map
// naming the JIT code's address ranges. A small dump written by hand, in callgrind's format
// (position compression: a `+N`/`-N` address is relative to the previous one).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callersOf, latestOwners, readPerfMap, selfByFunction } from '../../bench/callgrind-functions.js';
import { groupOf } from '../../bench/callgrind-groups.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('callgrind-functions');
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

  it("names the module a bundled chunk's function came from, and callgrind-groups files it under that module's group", () => {
    // The bundled build: V8 names serving.chunk.js's lines, whose code is serving.chunk.code.js's
    // (esbuild's `// server/x.js` line starts each module).
    const server = path.join(dir, 'dist', 'server');
    mkdirSync(server, { recursive: true });
    writeFileSync(path.join(server, 'serving.chunk.code.js'), ['var a = 1;', '// server/fetch-response.js', 'function writeKeptTyped() {}', '// server/request-lifecycle.js', 'function onRequest() {}', ''].join('\n'));
    const url = `file://${server}/serving.chunk.js`;
    const mapFile3 = path.join(dir, 'chunk.map');
    writeFileSync(mapFile3, [`5000 100 JS:*writeKeptTyped ${url}:3:1`, `6000 100 JS:*onRequest ${url}:5:1`, `7000 100 JS:*prelude ${url}:1:1`, ''].join('\n'));
    const dump3 = path.join(dir, 'chunk.out');
    writeFileSync(dump3, ['version: 1', 'positions: instr line', 'events: Ir', 'fn=(1) 0x0000000000005000', '0x5000 0 30', '0x6000 0 20', '0x7000 0 10', ''].join('\n'));
    const self = selfByFunction(dump3, readPerfMap(mapFile3));
    expect([...self].sort()).toEqual([
      ['onRequest dist/server/serving.chunk.js:5:1 [server/request-lifecycle.js]', 20],
      ['prelude dist/server/serving.chunk.js:1:1', 10],
      ['writeKeptTyped dist/server/serving.chunk.js:3:1 [server/fetch-response.js]', 30],
    ]);
    expect(groupOf('writeKeptTyped dist/server/serving.chunk.js:3:1 [server/fetch-response.js]')).toMatch(/^tspuma: fetch adapter/);
    expect(groupOf('writeTyped dist/server/serving.chunk.js:9:1 [server/response.js]')).toMatch(/^tspuma: response writer/);
    expect(groupOf('onRequest dist/server/serving.chunk.js:5:1 [server/request-lifecycle.js]')).toMatch(/^tspuma: request path/);
    expect(groupOf('writeKeptTyped dist/server/fetch-response.js:340:5')).toMatch(/^tspuma: fetch adapter/);
  });
});
