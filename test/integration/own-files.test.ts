// Two servers given the same state file: the second is refused with a coded error and the first
// keeps its file (and `tspuma ctl -S` keeps steering it).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, run } from '../helpers/cli.js';

afterAll(killAll);

describe('a state file another running tspuma wrote', () => {
  it('is not taken over by a second server: it exits 1 with TSPUMA_ERR_FILE_IN_USE and the first keeps its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-two-'));
    const state = join(dir, 'tspuma.state');
    const first = await boot(['-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, 'examples/hello.ts']);
    const second = run(['-b', 'tcp://127.0.0.1:0', '-S', state, 'examples/hello.ts']);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain(`TSPUMA_ERR_FILE_IN_USE: The state file ${state} (-S in command line) names a tspuma that is running (PID ${first.proc.pid})`);
    expect((JSON.parse(readFileSync(state, 'utf8')) as { pid: number }).pid).toBe(first.proc.pid);
    const ctl = run(['ctl', 'stats', '-S', state]);
    expect(await ctl.exited).toBe(0);
  });
});
