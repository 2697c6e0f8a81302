// Integration: a DevTools client attaching through discovery (twice to every target, with -d, in
// single mode and in a cluster) leaves none of Node's inspector lines on stderr ("Debugger
// attached.", and "Waiting for the debugger to disconnect..." for a client still attached at the
// stop, which must not hold the stop either), while the app's own stderr lines arrive intact, in
// order, including a partial line and a line that starts like one of Node's.
import CDP from 'chrome-remote-interface';
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, discoveryUrl, killAll, type Booted } from '../helpers/cli.js';
import { SLOWNESS, waitFor, okJson } from '../helpers/net.js';

afterAll(killAll);

const APP = 'test/fixtures/apps/stderr-app.mjs';
const NODE_LINE = /^(Debugger attached\.|Waiting for the debugger to disconnect\.\.\.|Debugger listening on .*|For help, see: .*)$/;

async function attach(base: string, target: string): Promise<CDP.Client> {
  const url = new URL(base);
  const client = await attachThroughDiscovery(url, target);
  const { result } = await client.Runtime.evaluate({ expression: '6 * 7' });
  expect(result.value, `evaluate on ${target}`).toBe(42);
  return client;
}

/** Asks the app to write its lines for n and waits until they reached stderr. */
async function say(s: Booted, n: number): Promise<void> {
  expect((await fetch(`${s.url}/say/${n}`)).status).toBe(200);
  await waitFor(() => s.stderr().includes(`Debugger attached. (the app's own words, line ${n})\n`), `app line ${n} on stderr`, 15_000);
}

const appLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('app line ') || l.startsWith('Debugger attached. (the app'));

describe("Node's inspector lines on stderr", () => {
  it('single mode: two attaches to tspuma-single and one left attached at the stop print none of them; the app\'s lines arrive whole and in order', async () => {
    const s = await boot(['-d', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', APP]);
    const base = await discoveryUrl(s);
    await waitFor(async () => ((await okJson(await fetch(`${base}/json/list`), '/json/list')) as unknown[]).length === 1, 'every target listed', 20_000);
    const n = await attachesAndLines(s, base, ['tspuma-single'], 0);
    await heldAtTheStop(s, base, ['tspuma-single'], n);
  });

  // One cluster for what a -w 1 case checked (two attaches to the primary and to a worker, the
  // relay of a worker's stderr, clients left attached at the stop) and the phased restart under
  // attached clients (both workers): a -d -w 1 boot of its own cost about 0.5 s of CPU more.
  it('-w 2: two attaches to each of tspuma-primary, tspuma-worker-0 print none of them; a phased restart under DevTools clients left attached to both workers is not held by them (each old worker stops at once, none is killed) and prints none of the lines; clients left attached at the stop do not hold it; the app\'s lines arrive whole and in order', async () => {
    const s = await boot(['-d', '--inspect=127.0.0.1:0', '-w', '2', '-b', 'tcp://127.0.0.1:0', APP]);
    const base = await discoveryUrl(s);
    // A worker still booting does not take the stop message yet: restart a cluster that has booted.
    await waitFor(() => s.lines().some((l) => l.msg === '- All 2 workers booted'), 'every worker booted', 20_000);
    await waitFor(async () => ((await okJson(await fetch(`${base}/json/list`), '/json/list')) as unknown[]).length === 3, 'every target listed', 20_000);
    let n = await attachesAndLines(s, base, ['tspuma-primary', 'tspuma-worker-0'], 0);
    const held = await Promise.all(['tspuma-worker-0', 'tspuma-worker-1'].map((t) => attach(base, t)));
    const t0 = Date.now();
    s.proc.kill('SIGUSR1');
    await waitFor(() => s.lines().find((l) => l.msg === '- Phased restart finished, phase 1'), 'the phased restart finished', 60_000);
    const restartMs = Date.now() - t0;
    await Promise.all(held.map((c) => c.close().catch(() => undefined)));
    expect(s.lines().filter((l) => String(l.msg).includes('killing it')).map((l) => l.msg)).toEqual([]);
    // Two boots and two graceful stops; workerShutdownTimeout (30 s) was the wait per worker.
    // (Held, the restart would take 60 s: scaled for the load, the bound stays below that.)
    expect(restartMs).toBeLessThan(Math.min(30_000 * SLOWNESS, 59_000));
    await waitFor(async () => ((await okJson(await fetch(`${base}/json/list`), '/json/list')) as unknown[]).length === 3, 'the new workers listed', 20_000);
    await say(s, ++n);
    await heldAtTheStop(s, base, ['tspuma-primary', 'tspuma-worker-0'], n);
  }, 90_000 * SLOWNESS);
});

/** Says line n+1, then two attaches to each target, each followed by a line; returns the last line's number. */
async function attachesAndLines(s: Booted, base: string, targets: readonly string[], n: number): Promise<number> {
  await say(s, ++n);
  for (const target of targets) {
    for (let i = 0; i < 2; i++) {
      await (await attach(base, target)).close();
      await say(s, ++n);
    }
  }
  return n;
}

/**
 * A client still attached to each target when the server stops (a DevTools window left open): the
 * stop is not held, none of Node's lines is printed, and the app's n lines (and one more said with
 * the clients attached) came whole and in order.
 */
async function heldAtTheStop(s: Booted, base: string, targets: readonly string[], n: number): Promise<void> {
  const held = await Promise.all(targets.map((t) => attach(base, t)));
  await say(s, ++n);
  const t0 = Date.now();
  s.proc.kill('SIGTERM');
  expect(await s.exited).toBe(0);
  const stopMs = Date.now() - t0;
  await Promise.all(held.map((c) => c.close().catch(() => undefined)));
  expect(s.stderr().split('\n').filter((l) => NODE_LINE.test(l))).toEqual([]);
  const pidOf = (l: string) => l.match(/by pid (\d+)$/)?.[1] ?? null;
  const lines = appLines(s.stderr());
  expect(lines.map((l) => l.replace(/pid \d+$/, 'pid P'))).toEqual(
    Array.from({ length: n }, (_, i) => [`app line ${i + 1}: written in two parts by pid P`, `Debugger attached. (the app's own words, line ${i + 1})`]).flat(),
  );
  expect(lines.filter((l) => pidOf(l) !== null).every((l) => /^\d+$/.test(pidOf(l)!))).toBe(true);
  // The stop did not wait for the attached clients (workerShutdownTimeout is 30 s by default).
  expect(stopMs).toBeLessThan(Math.min(20_000 * SLOWNESS, 29_000));
}
