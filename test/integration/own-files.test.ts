// Two servers given the same state file: the second is refused with a coded error and the first
// keeps its file (and `tspuma ctl -S` keeps steering it). A cluster whose pidfile or state file
// cannot be written fails before it forks a worker.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, CLI, hermeticEnv, killAll, ROOT, run } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

describe('a state file another running tspuma wrote', () => {
  it('is not taken over by a second server: it exits 1 with TSPUMA_ERR_FILE_IN_USE and the first keeps its file', async () => {
    const dir = tempDir('two');
    const state = join(dir, 'tspuma.state');
    const first = await boot(['-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, 'test/fixtures/apps/hello.mjs']);
    const second = run(['-b', 'tcp://127.0.0.1:0', '-S', state, 'test/fixtures/apps/hello.mjs']);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain(`TSPUMA_ERR_FILE_IN_USE: The state file ${state} (-S in command line) names a tspuma that is running (PID ${first.proc.pid})`);
    expect((JSON.parse(readFileSync(state, 'utf8')) as { pid: number }).pid).toBe(first.proc.pid);
    const ctl = run(['ctl', 'stats', '-S', state]);
    expect(await ctl.exited).toBe(0);
  });
});

describe('a pidfile or state file the cluster primary cannot write (U3)', () => {
  for (const [what, flag, file, code] of [
    ['pidfile', '--pidfile', 'tspuma.pid', 'TSPUMA_ERR_PIDFILE'],
    ['state file', '-S', 'tspuma.state', 'TSPUMA_ERR_FILE_WRITE'],
  ] as const) {
    it(`${what}: the write fails (EFBIG: a file size limit, as ENOSPC on a full disk) before any worker is forked: exit 1 with ${code}, nothing booted or served, no file left`, async () => {
      const dir = tempDir('unwritable');
      const path = join(dir, file);
      // prlimit's file size limit of 2 bytes: the folder passes every check, the write itself fails. Output goes to pipes, which it does not limit.
      const proc = spawn('prlimit', ['--fsize=2', process.execPath, CLI, '-w', '2', '-b', 'tcp://127.0.0.1:0', flag, path, join(ROOT, 'test/fixtures/cluster-app.mjs')], { cwd: ROOT, env: { ...hermeticEnv(), NODE_EXTRA_CA_CERTS: undefined } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exit = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
      expect(exit).toBe(1);
      expect(err).toMatch(new RegExp(`^tspuma: ${code}: .*EFBIG`));
      // The old code forked and booted both workers, announced "Use Ctrl-C to stop", then killed them at workerShutdownTimeout.
      expect(out).not.toMatch(/Worker \d+ \(PID: \d+\) booting|Use Ctrl-C to stop/);
      expect(existsSync(path)).toBe(false);
    }, 60_000);
  }
});
