// Where a probe on a one-line route stops when the handler's line also holds callbacks of its own
// (N23): `Array.from(…, (_, i) => …)` or a Promise executor inside the handler runs many times a
// request, so a probe there must stop once a request, in the handler, not in each callback call.
// Sibling handlers on one line stay probed each. A node process of its own (vitest's loader would
// rewrite the module) imports the module and asks place() through a same-thread inspector session.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOWNESS } from '../helpers/net.js';
import { placeScript } from '../helpers/place-script.js';
import { tempDir } from '../helpers/temp.js';

const APP = [
  'export const routes = new Map(); const app = { get(path, h) { routes.set(path, h); } };',
  "app.get('/map', (req) => { return Array.from({ length: 2000 }, (_, i) => i * 2).length + req; });",
  "app.get('/wait', async (req) => { await new Promise((r) => setTimeout(r, 1)); return req; });",
  "app.get('/a', (x) => x + 1); app.get('/b', (y) => [y].map((z) => z * 2));",
].join('\n');

type Placed = { ok: boolean; locations: { lineNumber: number; columnNumber: number }[]; note: string | null };
let dir: string;
let placed: Record<string, Placed>;

beforeAll(() => {
  dir = tempDir('nested-callbacks');
  const file = join(dir, 'app.mjs');
  writeFileSync(file, `${APP}\n`);
  const body = `const placed = {};
for (const line of [2, 3, 4]) placed[line] = place(script, file, line, null, possibleBreakpoints(post));
process.stdout.write(JSON.stringify(placed));`;
  writeFileSync(join(dir, 'probe.mjs'), placeScript(file, body));
  const r = spawnSync(process.execPath, [join(dir, 'probe.mjs')], { encoding: 'utf8', timeout: 60_000 * SLOWNESS });
  expect(r.status, r.stderr).toBe(0);
  placed = JSON.parse(r.stdout);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The 1-based column of `text` in line `line` (1-based) of APP. */
const columnOf = (line: number, text: string) => APP.split('\n')[line - 1]!.indexOf(text) + 1;
/** The 1-based columns the probe on `line` stops at. */
const columns = (line: number) => placed[line]!.locations.map((l) => l.columnNumber + 1);
/** Whether `column` lies after `from` and before `to` on `line`. */
const between = (line: number, column: number, from: string, to: string) => column > columnOf(line, from) && column < columnOf(line, to);

describe('a probe on a one-line route whose handler holds callbacks', () => {
  it('stops in the handler only, not in the Array.from callback it calls 2,000 times a request', () => {
    expect(placed[2]!.ok).toBe(true);
    expect(columns(2)).toHaveLength(1);
    expect(between(2, columns(2)[0]!, '(req) =>', '(_, i) =>')).toBe(true);
    expect(placed[2]!.note).toMatch(/in the function the line holds \(column \d+\)/);
  });

  it('stops in an async handler only, not in the Promise executor it creates', () => {
    expect(columns(3)).toHaveLength(1);
    expect(between(3, columns(3)[0]!, 'async (req) =>', '(r) =>')).toBe(true);
  });

  it('still stops in each of two handlers on one line, and not in the callback inside the second', () => {
    expect(columns(4)).toHaveLength(2);
    expect(between(4, columns(4)[0]!, '(x) =>', "app.get('/b'")).toBe(true);
    expect(between(4, columns(4)[1]!, '(y) =>', '(z) =>')).toBe(true);
  });
});
