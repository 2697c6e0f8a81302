// A command run to its end without blocking the fork that runs the test: what spawnSync returns,
// awaited. A fork blocked in spawnSync answers none of vitest's RPC meanwhile, and when the block
// ends the timers run before the answers are read: a block over birpc's fixed 60 s (probe-engine's
// fixture at a load of 16-27, npm install) failed a run whose every test passed with vitest's own
// "Timeout calling "onTaskUpdate"" (test/README.md, session 13).
import { spawn, type SpawnOptions } from 'node:child_process';

export interface CommandResult {
  /** The exit code, or null when a signal ended it (the timeout's SIGTERM, say). */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why it could not start (ENOENT), or that it ran out of time: as spawnSync's `error`. */
  error?: Error;
}

/** Runs `file args` with `options`, ended with SIGTERM after `timeoutMs`; never rejects. */
export function command(file: string, args: string[], options: Omit<SpawnOptions, 'stdio'> & { timeoutMs: number }): Promise<CommandResult> {
  const { timeoutMs, ...spawnOptions } = options;
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let error: Error | undefined;
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      error = Object.assign(new Error(`${file} ${args.join(' ')}: still running after ${timeoutMs} ms, ended with SIGTERM`), { code: 'ETIMEDOUT' });
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (e) => (error ??= e));
    // 'close', not 'exit': the output is whole once the pipes have closed.
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ...(error ? { error } : {}) });
    });
  });
}
