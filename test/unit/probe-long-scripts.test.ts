// Where a probe stops in a long script (P2): V8 answers Debugger.getPossibleBreakpoints with at
// most 1,000 locations a call, so a line past the first 1,000 places of a file must still be found,
// and a line with no code there must name its real neighbours. A node process of its own (vitest's
// loader would rewrite the module) imports a generated ES module of 2,000 functions (6,000 places,
// written here, not committed) and asks place() through a same-thread inspector session.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOWNESS } from '../helpers/net.js';
import { placeScript } from '../helpers/place-script.js';
import { tempDir } from '../helpers/temp.js';

const FUNCTIONS = 2000;
const LAST = 4 * (FUNCTIONS - 1) + 2;
const MIDDLE = 4 * 1750 + 3;
const BLANK = 4 * FUNCTIONS + 1;
let dir: string;
let answers: { capped: number; placed: Record<string, unknown> };

const PROBE = (file: string, lines: number[]) =>
  placeScript(
    file,
    `const capped = post('Debugger.getPossibleBreakpoints', { start: { scriptId: script.scriptId, lineNumber: 0, columnNumber: 0 } }).locations.length;
const placed = {};
for (const line of ${JSON.stringify(lines)}) placed[line] = place(script, file, line, null, possibleBreakpoints(post));
process.stdout.write(JSON.stringify({ capped, placed }));`,
  );

beforeAll(() => {
  dir = tempDir('long-script');
  const file = join(dir, 'long.mjs');
  let text = '';
  // Function i: `function helperI(x) {` on line 4i+1, its two statements on 4i+2 and 4i+3, `}` on 4i+4.
  for (let i = 0; i < FUNCTIONS; i++) text += `function helper${i}(x) {\n  const y = x + ${i};\n  return y * 2;\n}\n`;
  writeFileSync(file, `${text}\nexport const last = helper${FUNCTIONS - 1}(1);\n`);
  writeFileSync(join(dir, 'probe.mjs'), PROBE(file, [LAST, MIDDLE, BLANK]));
  const r = spawnSync(process.execPath, [join(dir, 'probe.mjs')], { encoding: 'utf8', timeout: 60_000 * SLOWNESS });
  expect(r.status, r.stderr).toBe(0);
  answers = JSON.parse(r.stdout);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a probe in a script of more than 1,000 break locations', () => {
  it('V8 answers one call with at most 1,000 of the 6,000 places (the cap the lookup must page past)', () => {
    expect(answers.capped).toBe(1000);
  });

  it('a statement of the last function (line 7,998) and one in the middle (line 7,003) are placed on their own lines', () => {
    for (const line of [LAST, MIDDLE]) {
      expect(answers.placed[line]).toMatchObject({ ok: true, locations: [expect.objectContaining({ lineNumber: line - 1 })] });
    }
  });

  it('a blank line past the first 1,000 places names the lines with code just above and below it (7,999 and 8,002)', () => {
    expect(answers.placed[BLANK]).toEqual({ ok: false, below: 4 * FUNCTIONS - 1, above: 4 * FUNCTIONS + 2 });
  });
});
