// A log reader that stops reading (a container runtime stalling, a FIFO nobody drains): tspuma's own
// log writes wait in a buffer and never hold a worker or the primary (newuser7's U1: every worker
// froze after ~64 KiB of request lines, then the primary's /health). stdout is a FIFO here, as a
// container runtime gives (node's own spawn gives a socket, which tspuma writes as before).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, hermeticEnv, ROOT } from '../helpers/cli.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const LOCAL = 'tcp://127.0.0.1:0';
const HELLO = 'test/fixtures/apps/hello.mjs';

interface OnFifo {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
  /** Reads what the FIFO holds now (non-blocking); returns all read so far. */
  read(): string;
  /** JSON lines read so far. */
  lines(): Record<string, unknown>[];
}
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function onFifo(args: string[]): OnFifo {
  const dir = tempDir('log-stall');
  const fifo = join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...hermeticEnv(), NODE_EXTRA_CA_CERTS: undefined } as NodeJS.ProcessEnv, stdio: ['ignore', writer, 'pipe'] });
  closeSync(writer);
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let out = '';
  const chunk = Buffer.alloc(65_536);
  const read = () => {
    try {
      for (let n = readSync(reader, chunk); n > 0; n = readSync(reader, chunk)) out += chunk.toString('utf8', 0, n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
    return out;
  };
  const lines = () => read().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  cleanups.push(() => {
    proc.kill('SIGKILL');
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  });
  return { proc, exited, stderr: () => stderr, read, lines };
}

/** The boot line's URL and the health URL, read from the FIFO; from then on the test decides who reads it. */
async function booted(s: OnFifo): Promise<{ url: string; health: string | null }> {
  const boot = await waitFor(() => s.lines().find((l) => l.msg === 'Use Ctrl-C to stop'), 'the boot line on the FIFO', 40_000);
  const health = s.lines().find((l) => typeof l.healthUrl === 'string')?.healthUrl as string | undefined;
  return { url: (boot.urls as string[])[0]!, health: health === undefined ? null : health.replace('tcp:', 'http:') };
}

/** A path segment that makes each request's log line about 1.2 KB (its URL is in it twice): the bytes that fill the FIFO come from fewer requests. */
const PAD = 'p'.repeat(500);

async function requests(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/r${i}/${PAD}`, { signal: AbortSignal.timeout(5000 * SLOWNESS) }).catch((e: Error) => {
      throw new Error(`request ${i} of ${n} got no answer while stdout was not read: ${e.message}`);
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
}

describe('a stdout nobody reads (a FIFO)', () => {
  it('-w 1 --log-requests: every request is answered and /health answers while stdout is not read; the lines all arrive, in order, once it is', async () => {
    const REQUESTS = 120; // ~1.2 KB of request line each: the FIFO's 64 KiB twice over
    const s = onFifo(['-w', '1', '--log-requests', '-b', LOCAL, '--health-url', LOCAL, HELLO]);
    const { url, health } = await booted(s);
    const before = s.lines().length;
    await requests(url, REQUESTS);
    expect((await get(`${health}/health`)).status).toBe(200);
    const paths = await waitFor(() => {
      const seen = s.lines().map((l) => (l.request as { url?: string } | undefined)?.url).filter((p): p is string => typeof p === 'string' && p.startsWith('/r'));
      return seen.length === REQUESTS ? seen : undefined;
    }, `all ${REQUESTS} request lines`, 20_000);
    expect(paths).toEqual(Array.from({ length: REQUESTS }, (_, i) => `/r${i}/${PAD}`));
    expect(s.lines().length - before).toBeGreaterThanOrEqual(REQUESTS);
    expect(s.lines().some((l) => l.code === 'TSPUMA_ERR_LOG_DROPPED')).toBe(false);
  });

  it('SIGTERM while stdout is not read: the cluster stops (each process gives its last lines a second) and stderr says what was lost', async () => {
    const s = onFifo(['-w', '1', '--log-requests', '-b', LOCAL, HELLO]);
    const { url } = await booted(s);
    await requests(url, 80); // ~100 KB of request lines: more than the FIFO's 64 KiB
    s.proc.kill('SIGTERM');
    const code = await Promise.race([s.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000 * SLOWNESS).unref())]);
    expect(code).toBe(0);
    expect(s.stderr()).toMatch(/tspuma: stdout did not take the last \d+ bytes of log lines within 1000 ms of exit \(its reader stalled\); they are lost/);
  });

  it('two loggers of one process (the CLI\'s and start()\'s) come out in the order they logged, through one writer', () => {
    const script = [
      `const { createLogger } = await import(${JSON.stringify(`${ROOT}dist/server/logger.js`)});`,
      `const a = createLogger({ pretty: false }), b = createLogger({ pretty: false });`,
      `for (let i = 0; i < 4000; i++) (i % 2 ? a : b).info({ seq: i }, 'x'.repeat(i % 7 === 0 ? 3000 : 40));`,
    ].join('\n');
    // Through `| cat`: stdout a pipe, the kind tspuma writes through its own non-blocking descriptor.
    const out = execFileSync('sh', ['-c', `"${process.execPath}" --input-type=module -e "$TSPUMA_TEST_SCRIPT" | cat`], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, TSPUMA_TEST_SCRIPT: script } });
    const seqs = out.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 4000 }, (_, i) => i));
  });
});
