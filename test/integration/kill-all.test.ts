// test/helpers/cli.ts's killAll and killThese, which every file's afterEach/afterAll trusts before
// it removes its folders: they end what a child left running after the child itself ended (a
// cluster worker whose primary a test SIGKILLed finishes its requests in flight, for as long as
// they take, writing its log lines and files meanwhile), and they leave alone what they are told to keep.
import { afterAll, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll, killAllBut, killThese, type Booted } from '../helpers/cli.js';
import { get, waitFor } from '../helpers/net.js';
import { ended } from '../helpers/processes.js';

const SLOW = 'test/fixtures/slow.mjs';

afterAll(killAll);

const running = (pid: number): boolean => !ended(pid);

/** A -w 1 cluster of slow.mjs whose worker holds a 60 s request, and the worker's pid. */
async function busyCluster(): Promise<{ s: Booted; worker: number }> {
  const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', SLOW]);
  const worker = Number(await fromLog(s, (l) => /- Worker 0 \(PID: (\d+)\) booted/.exec(String(l.msg))?.[1], 'worker 0 booted'));
  void get(`${s.url}/slow?ms=60000`, undefined, 90_000).catch(() => undefined);
  await waitFor(async () => (await get(`${s.url}/inflight`)).body === '1', 'the 60 s request in the worker');
  return { s, worker };
}

describe('killAll and killThese end what a child left running', () => {
  it('killAllBut ends the worker of a primary the test SIGKILLed (the worker holds a request), and keeps a kept cluster\'s worker', async () => {
    const [gone, kept] = await Promise.all([busyCluster(), busyCluster()]);
    gone.s.proc.kill('SIGKILL');
    await gone.s.exited;
    expect(running(gone.worker), 'the orphaned worker, before killAll').toBe(true);
    await killAllBut(kept.s);
    expect(running(gone.worker), `worker ${gone.worker} of the SIGKILLed primary, after killAllBut`).toBe(false);
    expect(running(kept.s.proc.pid!), 'the kept primary').toBe(true);
    expect(running(kept.worker), 'the kept primary\'s worker').toBe(true);
    await killThese(kept.s);
    expect([kept.s.proc.pid!, kept.worker].filter(running), 'the kept cluster, after killThese').toEqual([]);
  });
});
