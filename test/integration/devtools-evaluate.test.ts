// Integration: a worker a DevTools client holds paused is "paused in a debugger" to the primary:
// spared at workerTimeout, named in its kill line at a stop. (An evaluation a client runs that
// throws is devtools-beside-debug.test's.)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, discoveryUrl, killAll } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

/** An app these cases need, not their subject: JavaScript, no TypeScript hooks thread at each boot. */
const HELLO = 'test/fixtures/apps/hello.mjs';

/** Resolves with the promise's value, or 'no answer' after ms. */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms).unref())]);

// A console typo under -d (an evaluation that throws, with the Debugger off and on) is answered
// with its ReferenceError and never pauses the process: devtools-beside-debug.test's first case in
// each mode, on the -d servers with an inspector that file boots (a -d boot each here cost about
// 0.2 s and 0.5 s of CPU more).

/** `-w 1 --inspect` serving HELLO with `config` (more option fields), its worker 0 paused by a CDP client through discovery. */
async function heldWorker(config: string) {
  const dir = tempDir('held');
  const file = join(dir, 'tspuma.config.mjs');
  writeFileSync(file, `export default { workerCheckInterval: 0.5, ${config} };\n`);
  const s = await boot(['-w', '1', '--inspect=127.0.0.1:0', '-C', file, '-b', 'tcp://127.0.0.1:0', HELLO], { TSPUMA_DUMP_DIR: join(dir, 'dumps') });
  const base = await discoveryUrl(s);
  const url = new URL(base);
  // Each step named on failure, with the server's last lines: at a load of 45 one run failed with
  // a bare 'socket hang up' (findings tests22.1), which did not say which step or what the
  // primary's discovery logged.
  let step = `attach to tspuma-worker-0 through discovery at ${base}`;
  try {
    const client = await attachThroughDiscovery(url, 'tspuma-worker-0');
    step = 'Debugger.enable';
    await client.Debugger.enable({});
    step = 'Debugger.pause';
    await client.Debugger.pause();
    return { s, client };
  } catch (err) {
    const tail = (text: string) => text.split('\n').slice(-15).join('\n');
    throw new Error(`${step}: ${(err as Error).message}\nthe server's last stdout lines:\n${tail(s.stdout())}\nits last stderr lines:\n${tail(s.stderr())}`, { cause: err });
  }
}

// Its two cases wait on their own servers (workerTimeout and an autopsy; workerShutdownTimeout):
// side by side ({ concurrent: true }). In turn the file took 7.5 s of a quiet run's wall for 1.2 s of CPU.
describe('a worker a DevTools client holds paused', { concurrent: true }, () => {
  it('is "paused in a debugger" in its autopsy, not hung, and is not killed for its missed check-ins', async () => {
    // The autopsy is what finds the worker paused: at its default bound (workerAutopsyTimeout 2 s)
    // a loaded machine's autopsy ran out, the worker was killed as hung and the spared line never
    // came (2 full runs of 3 at load 30-43; with 0.05 s, every run). 10 s, as the stop case has.
    // workerTimeout 2 s scaled by the load (SLOWNESS): any value shows the promise (the paused
    // worker misses its check-ins past it and is spared), and a healthy worker starved of a core
    // for 2 s before the client paused it was autopsied unpaused and killed as hung.
    const { s, client } = await heldWorker(`workerTimeout: ${2 * SLOWNESS}, workerShutdownTimeout: 5, workerAutopsyTimeout: 10`);
    try {
      const spared = await waitFor(() => s.lines().find((l) => String(l.msg).includes('is paused in a debugger')), 'the spared line', 20_000);
      const autopsy = await waitFor(() => s.stderr().match(/tspuma dump #\d+ \[hang\] WorkerPausedInDebugger: .*/)?.[0], 'the autopsy');
      expect(autopsy).toContain('is paused in a debugger (a DevTools client holds it, reason "other")');
      // Its line says where the dump went and why the worker is spared (T9): logged before the spared line.
      expect(s.lines().find((l) => String(l.msg).startsWith('Autopsy of worker 0 '))?.msg).toMatch(/^Autopsy of worker 0 \(PID: \d+\) written to \/.+\.json; it was paused in a debugger \(a DevTools client held it, reason "other"\), not hung$/);
      expect(s.lines().filter((l) => String(l.msg).includes('Autopsy') && String(l.msg).includes('failed')).map((l) => l.msg)).toEqual([]);
      // Still the same worker: resumed by its client, it answers.
      await client.Debugger.resume();
      expect(await within(fetch(s.url).then((r) => r.status), 8000)).toBe(200);
      expect(s.lines().filter((l) => String(l.msg).includes('booting')).map((l) => l.msg)).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('at a stop, is killed at workerShutdownTimeout with a kill line that says it is paused in a debugger, after its autopsy (T9)', async () => {
    const { s, client } = await heldWorker('workerTimeout: 60, workerShutdownTimeout: 2, workerAutopsyTimeout: 10, drainDelay: 0');
    try {
      await waitFor(async () => (await within(fetch(s.url).then(() => 'answered', () => 'failed'), 1000)) === 'no answer', 'the worker paused');
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      await client.close().catch(() => undefined);
    }
    const kill = s.lines().find((l) => l.code === 'TSPUMA_ERR_WORKER_SHUTDOWN_TIMEOUT');
    expect(kill?.msg).toMatch(/^- Worker 0 \(PID: \d+\) still running 2 s \(workerShutdownTimeout\) after it was told to stop; killing it \(SIGKILL\); it is paused in a debugger \(a DevTools client holds it, reason "other"\); at its last check-in /);
    expect(kill?.pausedInDebugger).toBe(true);
    const msgs = s.lines().map((l) => String(l.msg));
    expect(msgs.findIndex((m) => m.startsWith('Autopsy of worker 0 '))).toBeLessThan(msgs.indexOf(String(kill!.msg)));
  });
});

// A DevTools client that sets pause-on-exceptions to none (DevTools does when it opens) leaves
// debug mode capturing, the failures after it with their values: devtools-beside-debug.test's
// steps 1 and 2, in single mode and -w 1 (with bridge.ts's keptFromClient() passing the command
// on, both of its cases fail). A case here checked it again on a -d boot of its own.
