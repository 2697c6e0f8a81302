// Unit: the suite's orphan check (test/helpers/orphan-check.ts) on a made-up /proc: it finds the
// tspuma processes of this run's marker only, never another run's, a zombie or a process that is not tspuma.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RUN_MARK_ENV, markedProcesses } from '../helpers/orphan-check.js';
import { tempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A /proc entry: its argv, environment and state/parent. */
function entry(proc: string, pid: number, argv: string[], env: string[], state = 'S', ppid = 1): void {
  const dir = join(proc, String(pid));
  mkdirSync(dir);
  writeFileSync(join(dir, 'cmdline'), `${argv.join('\0')}\0`);
  writeFileSync(join(dir, 'environ'), `${env.join('\0')}\0`);
  writeFileSync(join(dir, 'stat'), `${pid} (node) ${state} ${ppid} ${pid} ${pid} 0 -1`);
}

describe('markedProcesses', () => {
  it("lists this run's tspuma processes (by title or CLI path) with their parent, and nothing of another run, a zombie or another program", () => {
    const proc = tempDir('orphan-check');
    dirs.push(proc);
    const ours = `${RUN_MARK_ENV}=100-aaaa`;
    entry(proc, 11, ['tspuma worker 1', '', ''], ['PATH=/bin', ours, 'HOME=/root']);
    entry(proc, 12, ['/usr/bin/node', '/ci/tspuma/dist/server/cli.js', '-w', '2', 'app.ts'], [ours], 'S', 7);
    entry(proc, 13, ['tspuma worker 0'], [`${RUN_MARK_ENV}=200-bbbb`]); // another run's
    entry(proc, 14, ['tspuma worker 0'], [`${RUN_MARK_ENV}=100-aaaa0`]); // a marker that only starts like ours
    entry(proc, 15, ['tspuma worker 2'], [ours], 'Z'); // dead, not reaped
    entry(proc, 16, ['/usr/bin/node', '/ci/tspuma/node_modules/vitest/dist/workers/forks.js'], [ours]); // the runner's own fork
    entry(proc, 17, ['tspuma worker 3'], ['PATH=/bin']); // no marker: started outside any run
    mkdirSync(join(proc, 'self'));
    expect(markedProcesses('100-aaaa', proc).sort((a, b) => a.pid - b.pid)).toEqual([
      { pid: 11, ppid: 1, title: 'tspuma worker 1' },
      { pid: 12, ppid: 7, title: '/usr/bin/node /ci/tspuma/dist/server/cli.js -w 2 app.ts' },
    ]);
  });
});
