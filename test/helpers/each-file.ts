// Vitest's setupFiles: runs before each test file, in the worker that runs it. Forks run many
// files one after the other (isolate: false), so what a file must see fresh is set here.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, expect, vi, type RunnerTask } from 'vitest';
import { orphanCpuTicks, spawnsSince } from './cli.js';
import { refreshSlowness, SLOWNESS } from './net.js';
import { settleTempDirs } from './temp.js';

/** Whether a case or hook of this task (a file, a group, a test) failed. */
function failedIn(task: RunnerTask): boolean {
  return task.result?.state === 'fail' || ('tasks' in task && task.tasks.some(failedIn));
}
// The file's temporary folders (test/helpers/temp.ts): registered first, so it runs after every
// other afterAll ('stack' order), once the file's own hooks have stopped what writes there.
afterAll((file) => {
  const kept = settleTempDirs(file.name, failedIn(file));
  if (kept !== null) process.stderr.write(kept);
});

refreshSlowness();
// vitest.config.ts's testTimeout and hookTimeout (60 s x SLOWNESS) are read once, as the run
// starts: a run begun at a load of 4 kept 60 s while the load rose to 30 (the lead's whole run on
// 671a7f2: probe-engine's beforeAll 'Hook timed out in 60000ms', primary-modules' 'Test timed out in
// 52500ms'). Each file gets them from the load as it starts, as its waitFor deadlines do.
vi.setConfig({ testTimeout: 60_000 * SLOWNESS, hookTimeout: 60_000 * SLOWNESS });

/**
 * TSPUMA_TEST_CPU_LOG=FILE: one JSON line per test file with the runner's pid, when its setup began (before its imports) and when it ended, its wall time (from its beforeAll), the runner's own CPU
 * and its children's (the CLI processes it spawned and reaped, their workers included: the
 * kernel adds a reaped child's CPU to its parent's cutime/cstime), and the CLI spawns it made by
 * flags, and the CPU of the processes below a child killAll SIGKILLed, read before the kill
 * (`orphansMs`: a cluster's workers, which the kernel adds to no one's cutime then; a primary a test
 * SIGKILLs itself still loses its workers' CPU). A fork runs one file at a time, so the deltas are the file's. How `npm test`'s CPU was
 * split by file to see where it goes (threads share one process: their figures overlap).
 */
const cpuLog = process.env.TSPUMA_TEST_CPU_LOG;
if (cpuLog) {
  // This module runs again before each file's imports (vitest re-imports setup files per file):
  // the fork's CPU now, against the same at its beforeAll, is what the file's collection cost
  // (transform round trips, evaluating the test file and what it imports first in this fork), and
  // against the previous file's afterAll (kept on globalThis), vitest's own work between two files;
  // a fork's first file has no previous one, and its `gapMs` is the fork's CPU before it (the
  // process's start, vitest's runtime, the setup file's imports).
  const cpuNow = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const atSetup = cpuNow();
  const startedAt = Date.now();
  const carried = globalThis as { __tspumaLastFileEndCpu?: number };
  const firstInFork = carried.__tspumaLastFileEndCpu === undefined;
  const gapMs = Math.round(atSetup - (carried.__tspumaLastFileEndCpu ?? 0));
  let importMs = 0;
  const ticks = () => {
    // Fields after the command's ")" : state is [0], utime [11], stime [12], cutime [13], cstime [14].
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ').map(Number);
    return { self: f[11]! + f[12]!, children: f[13]! + f[14]!, orphans: orphanCpuTicks() };
  };
  let start = ticks();
  let t0 = 0;
  let mark = 0;
  beforeAll(() => {
    importMs = Math.round(cpuNow() - atSetup);
    start = ticks();
    t0 = performance.now();
    mark = spawnsSince();
  });
  afterAll(() => {
    const end = ticks();
    const file = (expect.getState().testPath ?? '?').replace(/^.*\/test\//, 'test/');
    const ms = (t: number) => t * 10; // USER_HZ 100
    const spawns = spawnsSince(mark);
    appendFileSync(cpuLog, `${JSON.stringify({ file, pid: process.pid, startedAt, endedAt: Date.now(), wallMs: Math.round(performance.now() - t0), selfMs: ms(end.self - start.self), childrenMs: ms(end.children - start.children), orphansMs: ms(end.orphans - start.orphans), importMs, gapMs, firstInFork, spawns })}\n`);
    carried.__tspumaLastFileEndCpu = cpuNow();
  });

}

/**
 * TSPUMA_TEST_CPU_LOG=FILE with TSPUMA_TEST_CPU_PER_TEST=1, per test (to FILE.tests): the CPU of
 * this process and of every process below it, alive or reaped, between the test's start and end.
 * A live process's ticks are its own plus those of the children it reaped; a process that exited
 * is in its reaper's. (A cluster's workers that outlive a SIGKILLed primary are reparented out of the tree: their CPU is not counted.) Two scans
 * of /proc per test: a cost of its own, so not part of the per-file figures' runs.
 */
if (cpuLog && process.env.TSPUMA_TEST_CPU_PER_TEST === '1') {
  const treeTicks = (): number => {
    const parent = new Map<number, number>();
    const ticks = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const f = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
        parent.set(Number(name), f[1]!);
        ticks.set(Number(name), f[11]! + f[12]! + f[13]! + f[14]!);
      } catch {
        // gone between the listing and the read
      }
    }
    let sum = 0;
    for (const [pid, t] of ticks) {
      for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
        if (p === process.pid) {
          sum += pid === process.pid ? ticks.get(pid)! : t;
          break;
        }
      }
    }
    return sum;
  };
  let testStart = 0;
  let testT0 = 0;
  beforeEach(() => {
    testStart = treeTicks();
    testT0 = performance.now();
  });
  afterEach((ctx) => {
    const file = (expect.getState().testPath ?? '?').replace(/^.*\/test\//, 'test/');
    appendFileSync(`${cpuLog}.tests`, `${JSON.stringify({ file, test: ctx.task.name, wallMs: Math.round(performance.now() - testT0), cpuMs: (treeTicks() - testStart) * 10 })}\n`);
  });
}
