// Used by bench/http.ts: CPU seconds of a server's whole process tree (primary and workers) from
// /proc, and pinning of the load generator and single-process servers to separate cores.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** user + system ticks of one process (all its threads), or 0 once it is gone. */
function ticks(pid: number): number {
  try {
    // The command name may hold spaces and parentheses (tspuma sets process.title): parse after the last ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list) out.push(...list.split(' ').map(Number));
    }
  } catch {
    /* gone, or no /proc */
  }
  return out;
}

/** The pid and every descendant, now. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]!));
  return all;
}

/** CPU seconds used by a process tree; null where /proc is not there (not Linux). */
export function treeCpuSeconds(pid: number): number | null {
  try {
    readFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  return processTree(pid).reduce((sum, p) => sum + ticks(p), 0) / TICKS_PER_SECOND;
}

/**
 * CPU seconds of one process's main thread (the thread whose id is the pid: the event loop, where
 * a request's JavaScript runs), from the scheduler's nanosecond run time (/proc/PID/task/PID/schedstat,
 * its first field); null where there is none. Unlike treeCpuSeconds it leaves out V8's helper
 * threads (concurrent compiles and GC), a worker thread such as tspuma's side thread and child
 * processes, and it is not rounded to 10 ms ticks.
 */
export function mainThreadCpuSeconds(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return null;
  }
}

/** Whether `taskset` works here and there are at least two cores to split. */
export const canPin = ((): boolean => {
  if (os.cpus().length < 2 || process.env.BENCH_PIN === '0') return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Pins a process (every thread of it) to a core list such as "1" or "0-3". */
export function pin(pid: number, cores: string): void {
  execFileSync('taskset', ['-a', '-cp', cores, String(pid)], { stdio: 'ignore' });
}

/**
 * Every thread of one process: its name ("main" for the thread whose id is the pid, else its rank
 * in the order started and /proc/PID/task/TID/comm, "2 node"), scheduler run time in ns (schedstat's first field) and user and system
 * 10 ms ticks (stat's utime, stime). Threads that ended are absent, so a difference of two calls
 * counts only threads alive at both.
 */
export function threadTimes(pid: number): Map<number, { name: string; ns: number; user: number; sys: number }> {
  const out = new Map<number, { name: string; ns: number; user: number; sys: number }>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  // In the order the process started them (thread ids ascend): node 20 names all its threads "node".
  tasks.sort((a, b) => Number(a) - Number(b));
  for (const [i, task] of tasks.entries()) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      const comm = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
      const name = Number(task) === pid ? 'main' : `${i + 1} ${comm}`;
      out.set(Number(task), { name, ns, user: Number(fields[11]), sys: Number(fields[12]) });
    } catch {
      /* the thread ended between the listing and the read */
    }
  }
  return out;
}
