// What integration tests that start processes of their own (under script(1), systemd-socket-activate,
// a notify receiver) share: a list of those processes, released after each test, the temporary
// folders the test made (test/helpers/temp.ts), and the questions a test asks the kernel about a pid.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'vitest';
import { killAll, killThese, killTrees, type Spawned } from './cli.js';
import { tempDir } from './temp.js';

/** Whether a process with this pid exists (signal 0: nothing is sent). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a process has ended: no such pid, or a zombie (dead, waiting for a parent to reap it: an
 * orphan's new parent, PID 1 in a container, may never do so).
 */
export function ended(pid: number): boolean {
  if (!alive(pid)) return true;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

/** The children of `pid` (a primary's workers), from /proc. */
export function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

export interface Owned {
  /** Records a process the test started itself (not through cli.ts), killed after the test. */
  own(proc: ChildProcess): ChildProcess;
  /** Records a process cli.ts started (boot, run) as this ledger's: with `only`, what release kills of cli.ts's. */
  adopt<T extends Spawned>(s: T): T;
  /** Records a pid (a cluster's worker) to SIGKILL at release if it still runs. */
  ownPid(pid: number): void;
  /** A fresh folder under the system's temporary folder (test/helpers/temp.ts: removed after the test file). */
  tempDir(): string;
  /** SIGKILLs what the test still runs (its own processes and what they started, then cli.ts's: all, or with `only` those adopted), waits for them (afterEach). */
  release(): Promise<void>;
}

/**
 * A per-file ledger of processes and folders; `prefix` names the folders (tspuma-PREFIX-XXXXXX).
 * With `only`, a ledger of one test or of one group of cases that runs beside others (it.concurrent):
 * release kills what it adopted of cli.ts's processes, not every one (the other cases' too).
 */
export function owned(prefix: string, opts: { only?: boolean } = {}): Owned {
  const procs: ChildProcess[] = [];
  const adopted: Spawned[] = [];
  const pids: number[] = [];
  return {
    own(proc) {
      procs.push(proc);
      return proc;
    },
    adopt(s) {
      adopted.push(s);
      return s;
    },
    ownPid(pid) {
      pids.push(pid);
    },
    tempDir() {
      return tempDir(prefix);
    },
    async release() {
      await killTrees(procs.splice(0));
      for (const pid of pids.splice(0)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      if (opts.only) await killThese(...adopted.splice(0));
      else await killAll();
    },
  };
}

/**
 * The ledger of one test that runs beside others (it.concurrent, or a group { concurrent: true }):
 * released when the test finishes, killing only what it adopted of cli.ts's processes.
 */
export function ownedByTest({ onTestFinished }: TestContext, prefix: string): Owned {
  const mine = owned(prefix, { only: true });
  onTestFinished(() => mine.release());
  return mine;
}

