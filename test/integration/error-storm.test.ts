// Integration: -d's error-storm back-off (diagnostics/error-storm.ts) in a server. An Express 5 async
// route failing alike on every request (its site muted after its first repeat) backs pausing off,
// which the log says in one line; a second route failing with an error of its own kind while the
// storm goes on still gets its dump with its values. Which of its throws is captured depends on
// whether the first came during a back-off (then dumped without values, and its next throw again
// with them: error-storm.test in test/unit covers both on a hand clock).
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, run } from '../helpers/cli.js';
import { join } from 'node:path';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/express-storm-app.ts';
const MIDDLEWARE_APP = 'test/fixtures/apps/express-middleware-repeat-app.ts';
afterAll(killAll);

/** Four clients GETting `path(i)` until stop() (bounded: 20,000 requests in all); each must answer 500. */
function storm(url: string, path: (i: number) => string): { sent: () => number; stop: () => Promise<void> } {
  let going = true;
  let sent = 0;
  const clients = Array.from({ length: 4 }, async () => {
    while (going && sent < 20_000) {
      const res = await fetch(`${url}${path(++sent)}`);
      expect(res.status).toBe(500);
      await res.text();
    }
  });
  return {
    sent: () => sent,
    stop: async () => {
      going = false;
      await Promise.all(clients);
    },
  };
}

const backOffLine = (l: Record<string, unknown>) => String(l.msg).startsWith('debug capture: pausing at throws is off');

describe('-d: an error storm in an Express 5 async route', () => {
  it('switches pausing off for it, says so once, and a new failure appearing mid-storm is dumped with its values; ctl stats counts the dumps and back-offs', async () => {
    const dir = tempDir('error-storm');
    const state = join(tempDir('error-storm-state'), 'tspuma.state');
    const s = await boot(['-d', '--inspect=off', '-e', 'production', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP], { TSPUMA_DUMP_DIR: dir });
    const pay = storm(s.url, (i) => `/pay/${i}`);
    try {
      const line = await waitFor(() => s.lines().find(backOffLine), 'the back-off line', 30_000);
      expect(line.msg).toMatch(/the failure of dump #1 \(at test\/fixtures\/apps\/express-storm-app\.ts:11\) repeated more than 20 times in a second/);
      expect(line.debugBackoff).toMatchObject({ dump: 1, periodMs: 1000, perSecond: 20 });
      // The new failure, while /pay still fails: until one of its dumps has its values (three requests at most).
      let captured: Dump | undefined;
      for (let n = 1; n <= 3 && !captured; n++) {
        const res = await fetch(`${s.url}/ship/${n}`);
        expect(res.status).toBe(500);
        await res.text();
        captured = await waitFor(() => dumpsIn(dir).filter((d) => d.error.message === `no box for ${n} items`)[0] ?? undefined, `the dump of /ship/${n}`, 10_000).then((d) => (d.captured ? d : undefined));
      }
      expect(captured?.frames[0]).toMatchObject({ function: 'ship', file: APP });
      const n = captured!.frames[0]!.locals!.count as number;
      expect(captured!.frames[0]!.locals).toMatchObject({ count: n, box: n + 40 });
    } finally {
      await pay.stop();
    }
    // The same figures as the exit record, while it serves (stormrev.5): one owner each.
    const ctl = run(['ctl', 'stats', '-S', state]);
    expect(await ctl.exited, ctl.stderr()).toBe(0);
    const capture = (JSON.parse(ctl.stdout()) as { debug_capture?: Record<string, number> }).debug_capture;
    expect(capture).toMatchObject({ dumps: dumpsIn(dir).length, repeats: expect.any(Number), muted: expect.any(Number), calmed: expect.any(Number) });
    expect(capture!.storms).toBeGreaterThanOrEqual(1);
    expect(capture!.repeats).toBeGreaterThan(20);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const cost = s.lines().find((l) => String(l.msg).startsWith('debug capture cost: '))?.debugCapture as Record<string, number>;
    expect(cost.storms).toBeGreaterThanOrEqual(1);
    // One line for the storm's back-offs, however many (at most one a minute).
    expect(s.lines().filter(backOffLine)).toHaveLength(1);
    // The /pay failure: one dump, with its values, however many requests.
    const paid = dumpsIn(dir).filter((d) => d.error.message === 'card declined');
    expect(paid).toHaveLength(1);
    expect(paid[0]!.frames[0]!.locals).toMatchObject({ orderId: expect.stringMatching(/^\d+$/), cents: 1299 });
  });

  it("keeps backing off while the app's own error middleware answers the storm's 500s: its repeats are still told during a back-off, with no look, so none ends it", async () => {
    const dir = tempDir('error-storm-middleware');
    const s = await boot(['-d', '--inspect=off', '-e', 'production', '-b', 'tcp://127.0.0.1:0', MIDDLEWARE_APP], { TSPUMA_DUMP_DIR: dir });
    const price = storm(s.url, () => '/price/abc');
    try {
      await waitFor(() => s.lines().find(backOffLine), 'the back-off line', 30_000);
      // 400 more failures, most of them inside back-offs.
      const after = price.sent() + 400;
      await waitFor(() => price.sent() >= after || undefined, '400 more requests', 60_000);
    } finally {
      await price.stop();
    }
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const cost = s.lines().find((l) => String(l.msg).startsWith('debug capture cost: '))?.debugCapture as Record<string, number>;
    expect(cost.storms).toBeGreaterThanOrEqual(1);
    // Before: each 500 in a back-off was one with no error (no look can be made there): a dump of
    // its own, "no error reached tspuma", which ended the back-off.
    expect(cost.calmed).toBe(0);
    const dumps = dumpsIn(dir);
    expect(dumps.map((d) => d.error.message)).toEqual(['no price for abc (300)']);
  });
});
