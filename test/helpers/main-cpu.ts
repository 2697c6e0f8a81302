// Vitest's globalSetup, for TSPUMA_TEST_CPU_LOG runs: at the end of the run, one more line in the
// log for vitest's main process itself, which no test file's line counts: its transforms of the
// test files and the modules they import, the reporter, the forks' RPC, and the `isolated`
// project's worker threads (whose files' own lines read this same process's CPU, so they overlap
// it). With the files' lines it accounts for the whole run but the processes `killAll` left to
// init (orphansMs) and what ran before this setup (vitest's start, config load).
import { appendFileSync } from 'node:fs';

export function setup(): (() => void) | undefined {
  const log = process.env.TSPUMA_TEST_CPU_LOG;
  // Both projects run this file; the first one's teardown writes the line.
  if (!log || process.env.TSPUMA_TEST_MAIN_CPU_LINE) return undefined;
  process.env.TSPUMA_TEST_MAIN_CPU_LINE = String(process.pid);
  const start = performance.now();
  return () => {
    const { user, system } = process.cpuUsage();
    appendFileSync(log, `${JSON.stringify({ file: '(vitest main process)', pid: process.pid, endedAt: Date.now(), wallMs: Math.round(performance.now() - start), selfMs: Math.round((user + system) / 1000), childrenMs: 0, orphansMs: 0, spawns: {} })}\n`);
  };
}
