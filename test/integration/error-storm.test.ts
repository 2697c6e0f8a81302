// Integration: -d's error-storm back-off (diagnostics/error-storm.ts) in a server. An Express 5 async
// route failing alike on every request (its site muted after its first repeat) backs pausing off,
// which the log says in one line; a second route failing with an error of its own kind while the
// storm goes on still gets its dump with its values. Which of its throws is captured depends on
// whether the first came during a back-off (then dumped without values, and its next throw again
// with them: error-storm.test in test/unit covers both on a hand clock).
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/express-storm-app.ts';
afterAll(killAll);

describe('-d: an error storm in an Express 5 async route', () => {
  it('switches pausing off for it, says so once, and a new failure appearing mid-storm is dumped with its values', async () => {
    const dir = tempDir('error-storm');
    const s = await boot(['-d', '--inspect=off', '-e', 'production', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
    let storming = true;
    let sent = 0;
    // Four clients failing /pay alike until told to stop (bounded: 20,000 requests at most).
    const storm = Array.from({ length: 4 }, async () => {
      while (storming && sent < 20_000) {
        sent++;
        const res = await fetch(`${s.url}/pay/${sent}`);
        expect(res.status).toBe(500);
        await res.text();
      }
    });
    try {
      const line = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith('debug capture: pausing at throws is off')), 'the back-off line', 30_000);
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
      storming = false;
      await Promise.all(storm);
    }
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const cost = s.lines().find((l) => String(l.msg).startsWith('debug capture cost: '))?.debugCapture as Record<string, number>;
    expect(cost.storms).toBeGreaterThanOrEqual(1);
    // One line for the storm's back-offs, however many (at most one a minute).
    expect(s.lines().filter((l) => String(l.msg).startsWith('debug capture: pausing at throws is off'))).toHaveLength(1);
    // The /pay failure: one dump, with its values, however many requests.
    const pay = dumpsIn(dir).filter((d) => d.error.message === 'card declined');
    expect(pay).toHaveLength(1);
    expect(pay[0]!.frames[0]!.locals).toMatchObject({ orderId: expect.stringMatching(/^\d+$/), cents: 1299 });
  });
});
