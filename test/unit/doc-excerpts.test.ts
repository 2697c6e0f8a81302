// test/helpers/doc-blocks.ts's dump excerpt check (package-install.test compares DEBUGGING.md's
// excerpts with the installed bin's dumps): tspuma's own line numbers are patterns, everything
// else exact, and each own frame's source line must be the installed file's line.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { excerptMissing, ownSourceMismatches } from '../helpers/doc-blocks.js';
import { tempDir } from '../helpers/temp.js';

const EXCERPT = [
  '$ npx tspuma -d app.ts',
  'tspuma dump #1 [app] Error: boom',
  '  > #0 compute  app.ts:7:11',
  '        order=null  factor=2',
  '        7 |   throw new Error(\'boom\');',
  '          |   ^',
  '    #1 Server.bind  node_modules/tspuma/server/server.ts:182:36  receiver Server',
  '        173 |   const snapshot = diagnostics?.snapshot(\'listen\');',
  '            |                                 ^',
  '    ...',
  '    #6 serve  node_modules/tspuma/server/cli/serve.ts:59:26',
  '        argv=Array(2) ["-d", "app.ts"]  …',
].join('\n');

/** The excerpt's dump as a run prints it (the frames left out there, the line cut short whole), with `edit` applied to its lines (the excerpt's, from 0). */
function output(edit: (lines: string[]) => void = () => undefined): string {
  const lines = EXCERPT.split('\n').slice(1);
  lines[8] = '    #2 other  node_modules/tspuma/server/other.ts:1:1';
  lines[10] = '        argv=Array(2) ["-d", "app.ts"]  cli=Object {}';
  edit(lines);
  return ['pid 1', ...lines, ''].join('\n');
}

describe('excerptMissing', () => {
  it('finds every line of the excerpt in the run that printed it', () => {
    expect(excerptMissing(EXCERPT, output())).toEqual([]);
  });

  it("takes tspuma's own frames' line and column, and their source lines' numbers and padding, as patterns", () => {
    const moved = output((l) => {
      l[5] = '    #1 Server.bind  node_modules/tspuma/server/server.ts:1182:9  receiver Server';
      l[6] = '        1173 |   const snapshot = diagnostics?.snapshot(\'listen\');';
      l[7] = '             |                                 ^';
      l[9] = '    #6 serve  node_modules/tspuma/server/cli/serve.ts:61:26';
    });
    expect(excerptMissing(EXCERPT, moved)).toEqual([]);
  });

  it("keeps the app's frames, every value and tspuma's source text exact", () => {
    const changed = output((l) => {
      l[1] = '  > #0 compute  app.ts:8:11';
      l[2] = '        order=null  factor=3';
      l[6] = '        173 |   const snapshot = diagnostics.snapshot(\'listen\');';
    });
    expect(excerptMissing(EXCERPT, changed)).toEqual(['  > #0 compute  app.ts:7:11', '        order=null  factor=2', "        173 |   const snapshot = diagnostics?.snapshot('listen');"]);
  });

  it("does not take a frame of tspuma's shown at its .js file (no source map) for its .ts line", () => {
    const js = output((l) => (l[5] = '    #1 Server.bind  node_modules/tspuma/dist/server/server.js:150:20  receiver Server'));
    expect(excerptMissing(EXCERPT, js)).toEqual(['    #1 Server.bind  node_modules/tspuma/server/server.ts:182:36  receiver Server']);
  });
});

describe('ownSourceMismatches', () => {
  const root = tempDir('doc-excerpts');
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'node_modules/tspuma/server'), { recursive: true });
  writeFileSync(join(root, 'node_modules/tspuma/server/server.ts'), ['// header', 'export class Server {', "  const snapshot = diagnostics?.snapshot('listen');", '}', ''].join('\n'));
  const dump = (frameLine: number, sourceLine: number, text = "  const snapshot = diagnostics?.snapshot('listen');") =>
    [`  > #0 compute  app.ts:7:11`, '        7 | x', `    #1 Server.bind  node_modules/tspuma/server/server.ts:${frameLine}:36  receiver Server`, `        ${sourceLine} | ${text}`, '          | ^', ''].join('\n');

  it("passes a frame of tspuma's whose source line is its number's line of the installed file (the app's frames are not its to check)", () => {
    expect(ownSourceMismatches(dump(3, 3), root)).toEqual([]);
  });

  it('names a frame whose source line has another number, or is not the file\'s line there, and an output with nothing to check', () => {
    expect(ownSourceMismatches(dump(3, 4), root)).toEqual([expect.stringMatching(/^node_modules\/tspuma\/server\/server\.ts:3 shows line 4 /)]);
    expect(ownSourceMismatches(dump(2, 2), root)).toEqual([expect.stringMatching(/^node_modules\/tspuma\/server\/server\.ts:2 shows line 2 .*; the file's line 2 is "export class Server \{"$/)]);
    expect(ownSourceMismatches('  > #0 compute  app.ts:7:11\n        7 | x\n', root)).toEqual(["no source line under any frame of tspuma's own: nothing to check"]);
  });
});
