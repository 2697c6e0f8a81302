// Integration (N26): debug mode's dumps and a DevTools client live together. A client that opens
// as Chrome DevTools does (Runtime.enable, Debugger.enable, setPauseOnExceptions none,
// setAsyncCallStackDepth, setBlackboxPatterns) leaves the dumps their values while it is attached
// and after it leaves; a client that enables the Debugger and never resumes cannot hold a request
// at capture's pause. And an evaluation a client runs that throws (a console typo) is answered
// with its exception at once and never pauses the process through capture; one that holds the
// thread is named as the client's in the blocked-loop warning. Single mode (the bridge
// to the main thread) and `-w 1` (the proxy to the worker's own inspector), one -d server each for
// both cases, each failure at a site of its own (a site is captured once a minute).
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { allBooted, boot, discoveryUrl, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

/** The request's status, or 'no answer' after ms (scaled for the load). */
async function statusWithin(url: string, ms: number): Promise<number | 'no answer'> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(Math.round(ms * SLOWNESS)) })).status;
  } catch {
    return 'no answer';
  }
}

/** The locals of the dump's first frame in the app file, by name. */
function appLocals(d: Dump): Record<string, unknown> {
  return d.frames.find((f) => f.file.endsWith('values-app.ts'))?.locals ?? {};
}

/** Attaches as the DevTools front end does when it opens; counts the pauses it is told of. */
async function devtoolsLike(base: string, target: string): Promise<{ close: () => Promise<void>; paused: () => number }> {
  const url = new URL(base);
  const client = await attachThroughDiscovery(url, target);
  let paused = 0;
  client.Debugger.paused(() => paused++);
  await client.Runtime.enable();
  await client.Debugger.enable({});
  await client.Debugger.setPauseOnExceptions({ state: 'none' });
  await client.Debugger.setAsyncCallStackDepth({ maxDepth: 32 });
  await client.Debugger.setBlackboxPatterns({ patterns: ['/node_modules/|^node:'] });
  return { close: () => client.close(), paused: () => paused };
}

/** Resolves with the promise's value, or 'no answer' after ms. */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms).unref())]);

/** Evaluates a typo in `target`, with the Debugger enabled or not; its answer and the pauses the client was told of. */
async function typoIn(base: string, target: string, debuggerOn: boolean): Promise<{ answer: unknown; paused: string[] }> {
  const url = new URL(base);
  const client = await attachThroughDiscovery(url, target);
  const paused: string[] = [];
  try {
    if (debuggerOn) {
      client.Debugger.paused((p) => paused.push(p.reason));
      await client.Debugger.enable({});
    }
    const answer = await within(client.Runtime.evaluate({ expression: 'undefinedThing + 1' }), 8000);
    return { answer, paused };
  } finally {
    await client.close();
  }
}

for (const [mode, args, target, targets] of [
  ['single mode', [], 'tspuma-single', ['tspuma-single']],
  // One worker: the proxy to a worker's own inspector is the same for each.
  ['-w 1', ['-w', '1'], 'tspuma-worker-0', ['tspuma-primary', 'tspuma-worker-0']],
] as const) {
  describe(`-d with a DevTools client (${mode}, ${target})`, () => {
    /** The mode's -d server, booted by the first of its two cases, with every target listed. */
    let booted: Promise<{ s: Booted; dir: string; base: string }> | undefined;
    const server = () =>
      (booted ??= (async () => {
        const dir = tempDir('beside');
        const s = await boot(['-d', '--inspect=127.0.0.1:0', ...args, '-b', 'tcp://127.0.0.1:0', 'test/fixtures/apps/values-app.ts'], { TSPUMA_DUMP_DIR: dir });
        if (args.length > 0) await allBooted(s);
        const base = await discoveryUrl(s);
        await waitFor(async () => ((await okJson(await fetch(`${base}/json/list`), '/json/list')) as { id: string }[]).length === targets.length, 'every target listed');
        return { s, dir, base };
      })());

    it(`a console typo is answered with its ReferenceError and requests keep being answered (${targets.join(', ')})`, async () => {
      const { s, base } = await server();
      for (const t of targets) {
        for (const debuggerOn of [false, true]) {
          const { answer, paused } = await typoIn(base, t, debuggerOn);
          expect(answer, `${t}, Debugger ${debuggerOn ? 'enabled' : 'off'}`).toMatchObject({ result: { className: 'ReferenceError', description: expect.stringContaining('undefinedThing is not defined') }, exceptionDetails: expect.anything() });
          expect(paused).toEqual([]);
          expect(await within(fetch(s.url).then((r) => r.status), 8000)).toBe(200);
        }
      }
    });

    it(`an evaluation that holds ${target}'s thread is named in its blocked-loop warning as the client's, not blamed on the app's code (fix8.1)`, async () => {
      const { s, base } = await server();
      // A line logged within 10 s before would fold this block into a count (one line per 10 s): past that first.
      const lastLine = () => Math.max(0, ...s.lines().filter((l) => l.code === 'TSPUMA_ERR_LOOP_BLOCKED').map((l) => Number(l.time)));
      await waitFor(() => Date.now() - lastLine() > 10_500, 'the fold interval of an earlier blocked-loop line to pass', 20_000);
      const since = Date.now();
      const url = new URL(base);
      const client = await attachThroughDiscovery(url, target);
      try {
        // Asleep 1.6 s (no CPU spent): over loopBlockedWarning (1 s), measured to within a 250 ms tick.
        await client.Runtime.evaluate({ expression: 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1600)' });
      } finally {
        await client.close();
      }
      const blocked = await waitFor(() => s.lines().find((l) => l.code === 'TSPUMA_ERR_LOOP_BLOCKED' && Number(l.time) >= since), 'the blocked-loop warning');
      expect(String(blocked.msg)).toContain("; a DevTools client's evaluation ran then (its console, a watch expression or a snippet, through discovery), not the app's code;");
    });

    it('dumps keep their values while a DevTools-like client is attached and after it leaves; a client that never resumes does not hold a failing request', async () => {
      const { s, dir, base } = await server();
      const dumpOf = (needle: string) => waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(needle)), `the dump of "${needle}"`, 20_000);

      // 1. While attached (it set pause-on-exceptions to none).
      const devtools = await devtoolsLike(base, target);
      try {
        expect(await statusWithin(`${s.url}/price?id=14`, 8000)).toBe(500);
        const attached = await dumpOf('no price for 14');
        expect({ captured: attached.captured, id: appLocals(attached).id }).toEqual({ captured: true, id: '14' });
      } finally {
        await devtools.close();
      }

      // 2. After it left.
      expect(await statusWithin(`${s.url}/wallet`, 8000)).toBe(500);
      const after = await dumpOf('insufficient funds for ann');
      expect({ captured: after.captured, cents: appLocals(after).cents }).toEqual({ captured: true, cents: 5000 });

      // 3. A client that enables the Debugger and never resumes: capture's pause is not its to hold.
      const url = new URL(base);
      const holder = await attachThroughDiscovery(url, target);
      try {
        const reasons: string[] = [];
        holder.Debugger.paused((p) => reasons.push(p.reason));
        await holder.Debugger.enable({});
        expect(await statusWithin(`${s.url}/schedule`, 8000)).toBe(500);
        const held = await dumpOf('cannot schedule api.example.test');
        expect(held.captured).toBe(true);
        // It was told of the pause (and of the resume that followed): the pause was capture's.
        // (Through the proxy its event may come after the answer: waited for.)
        await waitFor(() => reasons.includes('exception'), 'the pause event at the client');
        expect(await statusWithin(`${s.url}/`, 8000)).toBe(200);
      } finally {
        await holder.close();
      }
    });
  });
}
