// Integration (N12): `tspuma inspect heap` and `tspuma inspect profile` whose write fails part way
// (a full disk; here prlimit's file size limit, EFBIG, as the own-files tests do) say so with
// TSPUMA_ERR_FILE_WRITE naming the file, and leave nothing at the path nor beside it.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, boot, hermeticEnv, killAll } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

/** Runs the CLI under a 100-byte file size limit (an idle server's 1 s profile is about 1 KB); resolves with its exit code and stderr. */
function limited(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn('prlimit', ['--fsize=100', process.execPath, CLI, ...args], { cwd: ROOT, env: hermeticEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stderr })));
}

describe('tspuma inspect on a disk that fills up during the write (N12)', () => {
  it('heap and profile exit 1 with TSPUMA_ERR_FILE_WRITE naming the file, and leave no file, partial or temporary', async () => {
    const s = await boot(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/apps/hello.mjs')]);
    const discovery = String(s.lines().find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
    const dir = tempDir('full');
    const heap = join(dir, 'w.heapsnapshot');
    const profile = join(dir, 'p.cpuprofile');
    const [h, p] = [await limited(['inspect', 'heap', '--out', heap, '--url', discovery]), await limited(['inspect', 'profile', '--seconds', '1', '--out', profile, '--url', discovery])];
    expect([h.code, h.stderr]).toEqual([1, expect.stringContaining(`tspuma: TSPUMA_ERR_FILE_WRITE: Cannot write the heap snapshot ${heap} (EFBIG)`)]);
    expect([p.code, p.stderr]).toEqual([1, expect.stringContaining(`tspuma: TSPUMA_ERR_FILE_WRITE: Cannot write the CPU profile ${profile} (EFBIG)`)]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
