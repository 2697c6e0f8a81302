// Unit: the process's side thread (server/side-thread.ts), built (its entry is loaded by a worker
// thread, which runs dist/): every duty of a process runs in one thread (a -d worker's pause
// rescuer and primary watch used to start a thread each, 25-35 ms of CPU apiece), a stopped duty
// stops alone, and the last one stopped ends the thread; a thread that hosts the duties
// (inspector discovery's) runs them instead and is left to its owner.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = tempDir('side-thread');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Slot `slot + 1` once a duty's stop ran. */
const STOPPED = -1_000_000;

/**
 * A duty module: writes its thread's id to slot `slot` of the shared array, then counts up slot
 * `slot + 1` every 5 ms until stopped, when it sets that slot to STOPPED.
 */
const DUTY = `
import { threadId } from 'node:worker_threads';
export function runDuty({ shared, slot }) {
  Atomics.store(shared, slot, threadId);
  Atomics.notify(shared, slot);
  const timer = setInterval(() => Atomics.add(shared, slot + 1, 1), 5);
  return () => {
    clearInterval(timer);
    Atomics.store(shared, slot + 1, ${STOPPED});
  };
}
`;
const dutyUrl = (name: string) => {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, DUTY);
  return pathToFileURL(file);
};

/** Polls until `check` holds, failing after `ms`. */
async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sideThread = async () => (await import(pathToFileURL(join(ROOT, 'dist/server/side-thread.js')).href)) as typeof import('../../server/side-thread.js');

describe('the side thread', () => {
  it('runs two duties in one thread (not the main one); stopping one leaves the other running; stopping the last ends the thread', async () => {
    const { startDuty } = await sideThread();
    const shared = new Int32Array(new SharedArrayBuffer(4 * 4));
    const a = startDuty(dutyUrl('a'), { shared, slot: 0 });
    const b = startDuty(dutyUrl('b'), { shared, slot: 2 });
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    await until('both duties to run', () => Atomics.load(shared, 0) !== 0 && Atomics.load(shared, 2) !== 0);
    expect(Atomics.load(shared, 0)).toBe(Atomics.load(shared, 2));
    expect(Atomics.load(shared, 0)).toBeGreaterThan(0); // 0 is the main thread
    await a!.stop();
    // a's stop ran in the thread; b goes on counting there, a does not.
    await until("a's stop to run", () => Atomics.load(shared, 1) === STOPPED);
    const bCount = Atomics.load(shared, 3);
    await until('b to count on', () => Atomics.load(shared, 3) > bCount + 2);
    expect(Atomics.load(shared, 1)).toBe(STOPPED);
    // The last duty stopped: the thread is terminated (stop resolves once it has), so b's own stop never ran.
    await b!.stop();
    expect(Atomics.load(shared, 3)).toBeGreaterThan(bCount + 2);
    // A duty started afterwards gets a new thread.
    const c = startDuty(dutyUrl('c'), { shared, slot: 0 });
    Atomics.store(shared, 0, 0);
    await until('c to run', () => Atomics.load(shared, 0) !== 0);
    expect(Atomics.load(shared, 0)).not.toBe(Atomics.load(shared, 2));
    await c!.stop();
  });

  it('runs the duties in a thread that hosts them (hostDuties: inspector discovery\'s) while it runs, never terminating it, and in a thread of its own once it exited', async () => {
    const { hostDuties, startDuty } = await sideThread();
    const duties = pathToFileURL(join(ROOT, 'dist/server/side-thread-duties.js')).href;
    const host = new Worker(`import(${JSON.stringify(duties)}).then((m) => { const { parentPort } = require('node:worker_threads'); m.serveDuties(parentPort); parentPort.postMessage('serving'); });`, { eval: true });
    try {
      await new Promise((resolve, reject) => {
        host.once('message', resolve);
        host.once('error', reject);
      });
      hostDuties(host);
      const shared = new Int32Array(new SharedArrayBuffer(4 * 4));
      const a = startDuty(dutyUrl('hosted-a'), { shared, slot: 0 });
      await until('the duty to run', () => Atomics.load(shared, 0) !== 0);
      expect(Atomics.load(shared, 0)).toBe(host.threadId);
      // Its last duty stopped, the hosting thread goes on (its stop ran there) and takes the next duty.
      await a!.stop();
      await until("the duty's stop to run", () => Atomics.load(shared, 1) === STOPPED);
      const b = startDuty(dutyUrl('hosted-b'), { shared, slot: 2 });
      await until('the next duty to run', () => Atomics.load(shared, 2) !== 0);
      expect(Atomics.load(shared, 2)).toBe(host.threadId);
      await b!.stop();
      await host.terminate();
      // The host gone, a duty gets a thread of its own.
      Atomics.store(shared, 0, 0);
      const c = startDuty(dutyUrl('after-host'), { shared, slot: 0 });
      await until('the duty to run after the host exited', () => Atomics.load(shared, 0) !== 0);
      expect(Atomics.load(shared, 0)).not.toBe(host.threadId);
      await c!.stop();
    } finally {
      await host.terminate();
    }
  });
});
