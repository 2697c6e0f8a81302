// Vitest's globalSetup: every process the run starts carries one marker in its environment
// (SUITE_RUN_MARK, unique to this run; test/helpers/cli.ts's hermeticEnv keeps it), and at the end
// of the run any tspuma process still running with this run's marker (a worker that outlived its
// primary, a primary no test stopped) fails the run, named, and is killed. Only this run's
// marker is matched: suites other people run on the same machine at the same time are neither
// flagged nor touched.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const RUN_MARK_ENV = 'SUITE_RUN_MARK';
/** How long the run's processes get to end by themselves (an orphaned worker finishing its requests: workerShutdownTimeout's default, 30 s, and its 503s). */
const GRACE_MS = 40_000;

/** A process the check found: pid, parent, and what `ps` would show. */
export interface Leftover {
  pid: number;
  ppid: number;
  title: string;
}

/** tspuma processes (by title, or running the CLI) whose environment holds `mark`, zombies excluded. */
export function markedProcesses(mark: string, proc = '/proc'): Leftover[] {
  const found: Leftover[] = [];
  const needle = `\0${RUN_MARK_ENV}=${mark}\0`;
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`${proc}/${name}/cmdline`, 'utf8').split('\0');
      const title = argv.filter(Boolean).join(' ');
      if (!/^tspuma\b/.test(title) && !argv.some((a) => a.endsWith('/dist/server/cli.js'))) continue;
      if (!`\0${readFileSync(`${proc}/${name}/environ`, 'utf8')}`.includes(needle)) continue;
      const stat = readFileSync(`${proc}/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (stat[0] === 'Z') continue;
      found.push({ pid: Number(name), ppid: Number(stat[1]), title });
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return found;
}

export function setup(): () => Promise<void> {
  // Both projects run this file: the first sets the marker, the second keeps it.
  const mark = (process.env[RUN_MARK_ENV] ??= `${process.pid}-${randomBytes(6).toString('hex')}`);
  return async () => {
    const deadline = Date.now() + GRACE_MS;
    let left = markedProcesses(mark);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = markedProcesses(mark);
    }
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* ended meanwhile */
      }
    }
    throw new Error(`tspuma processes of this test run still running ${GRACE_MS / 1000} s after its last test (killed now): ${left.map((p) => `pid ${p.pid} '${p.title}' (parent pid ${p.ppid}${p.ppid === 1 ? ': an orphan' : ''})`).join('; ')}`);
  };
}
