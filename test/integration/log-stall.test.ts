// A log reader that stops reading (journald or a container runtime stalling): tspuma's own log
// writes wait in a buffer and never hold a worker or the primary (newuser7's U1: every worker froze
// after ~64 KiB of request lines, then the primary's /health).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, CLI, fromLog, hermeticEnv, killAll } from '../helpers/cli.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';

afterEach(killAll);

const LOCAL = 'tcp://127.0.0.1:0';
const HELLO = 'test/fixtures/apps/hello.mjs';
/** Requests whose request lines (~250 bytes each) fill the pipe (64 KiB) and the reader's buffer several times over. */
const REQUESTS = 1500;

describe('a stdout nobody reads', () => {
  it('-w 1 --log-requests: every request is answered and /health answers while stdout is not read; the lines all arrive once it is', async () => {
    const s = await boot(['-w', '1', '--log-requests', '-b', LOCAL, '--health-url', LOCAL, HELLO]);
    const health = (await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl : undefined), 'the health line')).replace('tcp:', 'http:');
    const before = s.lines().length;
    s.proc.stdout!.pause();
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${s.url}/r${i}`, { signal: AbortSignal.timeout(5000 * SLOWNESS) }).catch((e: Error) => {
        throw new Error(`request ${i} of ${REQUESTS} got no answer while stdout was not read: ${e.message}`);
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect((await get(`${health}/health`)).status).toBe(200);
    // Nothing was read meanwhile: the pipe and the reader's buffer hold far fewer lines than were written.
    expect(s.lines().length - before).toBeLessThan(REQUESTS / 2);
    s.proc.stdout!.resume();
    const paths = await waitFor(() => {
      const seen = new Set(s.lines().map((l) => (l.request as { url?: string } | undefined)?.url).filter((p) => typeof p === 'string' && p.startsWith('/r')));
      return seen.size === REQUESTS ? seen : undefined;
    }, `all ${REQUESTS} request lines`, 20_000);
    expect(paths.has(`/r${REQUESTS - 1}`)).toBe(true);
    expect(s.lines().some((l) => l.code === 'TSPUMA_ERR_LOG_DROPPED')).toBe(false);
  });

  it('SIGTERM while stdout, a pipe, is not read: the cluster stops (each process gives its last lines a second) and stderr says what was lost', async () => {
    // A FIFO, as a container runtime gives (node's own spawn gives a socket, which Linux cannot open again).
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-log-stall-'));
    const fifo = join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    const proc = spawn(process.execPath, [CLI, '-w', '1', '--log-requests', '-b', LOCAL, HELLO], { env: hermeticEnv(), stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    try {
      // The boot line is read from the FIFO; from then on nobody reads it.
      let out = '';
      const chunk = Buffer.alloc(65_536);
      const url = await waitFor(() => {
        try {
          for (let n = readSync(reader, chunk); n > 0; n = readSync(reader, chunk)) out += chunk.toString('utf8', 0, n);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        }
        const boot = out.split('\n').find((l) => l.includes('"msg":"Use Ctrl-C to stop"'));
        return boot === undefined ? undefined : (JSON.parse(boot) as { urls: string[] }).urls[0];
      }, 'the boot line on the FIFO', 40_000);
      for (let i = 0; i < 600; i++) {
        const res = await fetch(`${url}/r${i}`, { signal: AbortSignal.timeout(5000 * SLOWNESS) });
        await res.arrayBuffer();
      }
      proc.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000 * SLOWNESS).unref())]);
      expect(code).toBe(0);
      expect(stderr).toMatch(/tspuma: stdout did not take the last \d+ bytes of log lines within 1000 ms of exit \(EAGAIN: its reader stalled\); they are lost/);
    } finally {
      proc.kill('SIGKILL');
      closeSync(reader);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
