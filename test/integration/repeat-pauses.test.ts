// Integration: under -d, what a repeated failure costs in pauses once its site is muted. An
// Express 5 route throwing from a helper on every request: the first throw is captured in full,
// the second is a counted repeat that mutes the helper, and the later ones (muted: V8 does not
// pause) hand tspuma no error before Express answers 500. The held-error look made at each such
// 500 (index.ts lookForHeld) paused once a request for nothing: it reads app frames only, and
// Express's own error handler answers with none on the stack (debug12.4). With the app's own error
// middleware answering (an app frame holding `err`), the look found the muted site's error at
// each repeat, one pause each: the site its last look found at that answering frame, still muted,
// is taken as the repeat's without the pause (debug13.1).
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/express-repeat-app.ts';
const MIDDLEWARE_APP = 'test/fixtures/apps/express-middleware-repeat-app.ts';
afterAll(killAll);

/** Boots the app under -d, sends `requests` GETs one after another (each a 500), stops it; its capture figures and its dumps. */
async function serve(requests: number, app = APP, then: string[] = [], expectDumps = 1): Promise<{ figures: Record<string, number>; dumps: Dump[]; output: string }> {
  const dir = tempDir('repeat-pauses');
  const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', app], { TSPUMA_DUMP_DIR: dir });
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`${s.url}/price/abc`);
    expect(res.status).toBe(500);
    await res.text();
  }
  for (const path of then) {
    const res = await fetch(`${s.url}${path}`);
    expect(res.status).toBe(500);
    await res.text();
  }
  // The dumps are written before the server stops (the first's file is what the repeats are counted against).
  await waitFor(() => dumpsIn(dir).length >= expectDumps || undefined, `${expectDumps} dump(s)`, 20_000);
  s.proc.kill('SIGTERM');
  expect(await s.exited).toBe(0);
  const cost = s.lines().find((l) => String(l.msg).startsWith('debug capture cost: '));
  return { figures: cost?.debugCapture as Record<string, number>, dumps: dumpsIn(dir), output: s.stdout() + s.stderr() };
}

type Served = Awaited<ReturnType<typeof serve>>;

/** Both runs of the app: one capture and one counted repeat (which muted the helper), as many pauses, and one dump with the helper's values. */
function expectPausedAlike(two: Served, twelve: Served): void {
  expect(two.figures.captures).toBeGreaterThanOrEqual(1);
  expect(two.figures.repeats).toBe(1);
  expect(two.figures.muted).toBe(1);
  expect(twelve.figures.repeats).toBe(1);
  expect(twelve.figures.captures).toBe(two.figures.captures);
  expect(twelve.figures.pauses).toBe(two.figures.pauses);
  for (const { dumps } of [two, twelve]) {
    expect(dumps).toHaveLength(1);
    expect(dumps[0]!.error.message).toBe('no price for abc (300)');
    expect(dumps[0]!.frames[0]!).toMatchObject({ function: 'priceOf', locals: { sku: 'abc', cents: 300 } });
  }
}

describe('-d: a muted repeat of a 500 Express answers itself', () => {
  it('costs no pause: 12 requests pause as often as 2 (one capture, one repeat), and the first is dumped with its values', async () => {
    const [two, twelve] = await Promise.all([serve(2), serve(12)]);
    expectPausedAlike(two, twelve);
  });
});

describe("-d: a muted repeat of a 500 the app's own error middleware answers", () => {
  it('costs no pause after the look that found its error: 12 requests pause as often as 2, and every repeat is counted against the one dump', async () => {
    const [two, twelve] = await Promise.all([serve(2, MIDDLEWARE_APP), serve(12, MIDDLEWARE_APP)]);
    // The second request's throw is a counted repeat (it pauses) and mutes the helper; the look at
    // its 500 (one pause) finds that error held by the middleware. From the third on (muted: the
    // throw hands tspuma nothing), that site still muted, no look is made (before: one each, 15
    // pauses against 5).
    expectPausedAlike(two, twelve);
    // Every request after the first is a repeat of that dump (the count line at the 10th).
    expect(twelve.output).toMatch(/the failure of dump #\d+ \(Error: no price for abc \(300\)\) has happened 10 times/);
  });

  it('still looks at a 500 the same middleware line answers for another route: a never-thrown error there gets its own dump', async () => {
    const { dumps } = await serve(4, MIDDLEWARE_APP, ['/stock/abc'], 2);
    expect(dumps.map((d) => d.error.message).sort()).toEqual(['no price for abc (300)', 'no stock for abc']);
  });
});
