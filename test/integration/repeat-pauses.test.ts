// Integration: under -d, what a repeated failure costs in pauses once its site is muted. An
// Express 5 route throwing from a helper on every request: the first throw is captured in full,
// the second is a counted repeat that mutes the helper, and the later ones (muted: V8 does not
// pause) hand tspuma no error before Express answers 500. The held-error look made at each such
// 500 (index.ts lookForHeld) paused once a request for nothing: it reads app frames only, and
// Express's own error handler answers with none on the stack (debug12.4).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';

const APP = 'test/fixtures/apps/express-repeat-app.ts';
const dirs: string[] = [];
afterAll(async () => {
  await killAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Boots the app under -d, sends `requests` GETs one after another (each a 500), stops it; its capture figures and its dumps. */
async function serve(requests: number): Promise<{ figures: Record<string, number>; dumps: Dump[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tspuma-repeat-pauses-'));
  dirs.push(dir);
  const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`${s.url}/price/abc`);
    expect(res.status).toBe(500);
    await res.text();
  }
  // The first dump is written before the server stops (its file is what the repeats are counted against).
  await waitFor(() => dumpsIn(dir).length > 0 || undefined, 'the first dump', 20_000);
  s.proc.kill('SIGTERM');
  expect(await s.exited).toBe(0);
  const cost = s.lines().find((l) => String(l.msg).startsWith('debug capture cost: '));
  return { figures: cost?.debugCapture as Record<string, number>, dumps: dumpsIn(dir) };
}

describe('-d: a muted repeat of a 500 Express answers itself', () => {
  it('costs no pause: 12 requests pause as often as 2 (one capture, one repeat), and the first is dumped with its values', async () => {
    const [two, twelve] = await Promise.all([serve(2), serve(12)]);
    expect(two.figures.captures).toBeGreaterThanOrEqual(1);
    expect(two.figures.repeats).toBe(1);
    expect(two.figures.muted).toBe(1);
    expect(twelve.figures.repeats).toBe(1);
    expect(twelve.figures.captures).toBe(two.figures.captures);
    expect(twelve.figures.pauses).toBe(two.figures.pauses);
    for (const { dumps } of [two, twelve]) {
      expect(dumps).toHaveLength(1);
      const top = dumps[0]!.frames[0]!;
      expect(dumps[0]!.error.message).toBe('no price for abc (300)');
      expect(top).toMatchObject({ function: 'priceOf', locals: { sku: 'abc', cents: 300 } });
    }
  });
});
