// Integration: `tspuma ctl COMMAND --wait` returns when the state it names is reached (T12.1):
// worker-count-up once the new worker has booted, worker-count-down once the removed worker has
// exited, stop once the primary has exited; a new worker that fails to boot is a coded failure
// (exit 1), not a success. The workers' boot and stop are held on files (beforeWorkerBoot,
// beforeWorkerShutdown), so each "not yet" is checked while the state is known not to be reached.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, run, ROOT, type Booted, type Spawned } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { ended, owned } from '../helpers/processes.js';

const mine = owned('ctl-wait');
afterAll(() => mine.release());

const APP = join(ROOT, 'test/fixtures/cluster-app.mjs');

/**
 * A config whose workers of index 1 and up wait in beforeWorkerBoot while DIR/boot exists (and
 * then throw while DIR/fail exists), and whose workers wait in beforeWorkerShutdown while DIR/stop
 * exists; each writes DIR/boot.N or DIR/stop.N (N: its index) as it starts waiting.
 */
function heldConfig(dir: string): string {
  const config = join(dir, 'tspuma.config.mjs');
  writeFileSync(
    config,
    `import { existsSync, writeFileSync } from 'node:fs';\n` +
      `const dir = ${JSON.stringify(dir)};\n` +
      `const hold = async (what, index) => { if (!existsSync(dir + '/' + what)) return; writeFileSync(dir + '/' + what + '.' + index, ''); while (existsSync(dir + '/' + what)) await new Promise((r) => setTimeout(r, 20)); };\n` +
      `export default { workerCheckInterval: 0.5, workerShutdownTimeout: 30,\n` +
      `  beforeWorkerBoot: async (index) => { if (index < 1) return; await hold('boot', index); if (existsSync(dir + '/fail')) throw new Error('no DATABASE_URL'); },\n` +
      `  beforeWorkerShutdown: (index) => hold('stop', index) };\n`,
  );
  return config;
}

/** `tspuma ctl ARGS -S STATE` as a user runs it. */
function ctl(state: string, ...args: string[]): Spawned {
  return run(['ctl', ...args, '-S', state]);
}

/** How many times a worker of `index` has booted so far. */
function bootedLines(s: Spawned, index: number): number {
  return s.lines().filter((l) => new RegExp(`^- Worker ${index} \\(PID: \\d+\\) booted`).test(String(l.msg))).length;
}

/** The pid of the newest worker of `index`, from the last of its booting lines. */
function pidOf(s: Spawned, index: number): number {
  const pids = s.lines().map((l) => Number(new RegExp(`^- Worker ${index} \\(PID: (\\d+)\\) booting`).exec(String(l.msg))?.[1])).filter((n) => n > 0);
  expect(pids.length).toBeGreaterThan(0);
  return pids.at(-1)!;
}

describe('tspuma ctl --wait (T12.1)', () => {
  let dir: string;
  let state: string;
  let s: Booted;
  beforeAll(async () => {
    dir = mine.tempDir();
    state = join(dir, 'tspuma.state');
    s = await boot(['-C', heldConfig(dir), '-w', '1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP]);
    await waitFor(() => existsSync(state), 'the state file', 15_000);
  }, 60_000 * SLOWNESS);

  const stats = async () => {
    const c = ctl(state, 'stats');
    expect(await c.exited).toBe(0);
    return JSON.parse(c.stdout()) as { workers: number; booted_workers: number };
  };

  it('worker-count-up --wait returns once the new worker has booted, not while it boots', { timeout: 90_000 * SLOWNESS }, async () => {
    writeFileSync(join(dir, 'boot'), '');
    const up = ctl(state, 'worker-count-up', '--wait');
    await waitFor(() => existsSync(join(dir, 'boot.1')), 'worker 1 to be held in its boot', 30_000);
    expect(up.proc.exitCode).toBeNull(); // the old code had answered {"workers":2} and exited 0 here
    expect((await stats()).booted_workers).toBe(1);
    rmSync(join(dir, 'boot'));
    expect(await up.exited).toBe(0);
    expect(JSON.parse(up.stdout())).toEqual({ workers: 2, booted_worker: 1 });
    expect(await stats()).toMatchObject({ workers: 2, booted_workers: 2 });
  });

  it('worker-count-down --wait returns once the removed worker has exited, not while it stops', { timeout: 90_000 * SLOWNESS }, async () => {
    const pid = pidOf(s, 1);
    writeFileSync(join(dir, 'stop'), '');
    const down = ctl(state, 'worker-count-down', '--wait');
    await waitFor(() => existsSync(join(dir, 'stop.1')), 'worker 1 to be held in its stop', 30_000);
    expect(down.proc.exitCode).toBeNull();
    expect(ended(pid)).toBe(false);
    rmSync(join(dir, 'stop'));
    expect(await down.exited).toBe(0);
    expect(ended(pid)).toBe(true);
    expect(JSON.parse(down.stdout())).toEqual({ workers: 1, exited_worker: 1 });
    // At 1 worker nothing is done: exit 1 with a coded answer, so a deploy script's `|| alert` sees it (N16).
    const again = ctl(state, 'worker-count-down', '--wait');
    expect(await again.exited).toBe(1);
    expect(again.stdout()).toBe('');
    expect(again.stderr()).toBe('tspuma ctl worker-count-down: TSPUMA_ERR_WORKER_COUNT_MIN: worker-count-down not done: a cluster keeps at least 1 worker, and this one has 1; `tspuma ctl stop` stops the server. {"workers":1}\n');
  });

  it('worker-count-up --wait whose worker fails to boot exits 1 with TSPUMA_ERR_CONTROL_WAIT and its boot error; stats and gc refuse --wait', { timeout: 90_000 * SLOWNESS }, async () => {
    writeFileSync(join(dir, 'fail'), '');
    const up = ctl(state, 'worker-count-up', '--wait');
    expect(await up.exited).toBe(1);
    expect(up.stdout()).toBe('');
    expect(up.stderr()).toMatch(/^tspuma ctl worker-count-up: TSPUMA_ERR_CONTROL_WAIT: worker-count-up --wait: worker 1 \(PID: \d+\) failed to boot: .*no DATABASE_URL.*; it respawns with backoff\.\n$/);
    const bootedBefore = bootedLines(s, 1);
    rmSync(join(dir, 'fail'));
    // Its respawn (after the backoff) boots: the stop below finds every worker serving, none mid-boot.
    await waitFor(() => bootedLines(s, 1) > bootedBefore, 'worker 1 to boot once its failure is gone', 30_000);
    for (const command of ['stats', 'gc']) {
      const c = ctl(state, command, '--wait');
      expect(await c.exited).toBe(1);
      expect(c.stderr()).toContain(`TSPUMA_ERR_CLI_USAGE: --wait means nothing for ${command}, which answers at once`);
    }
  });

  it('phased-restart --wait whose later new worker fails to boot (rolled forward) exits 1 with TSPUMA_ERR_CONTROL_WAIT, not done (review21.3)', { timeout: 90_000 * SLOWNESS }, async () => {
    await waitFor(async () => (await stats()).booted_workers === 2, 'both workers serving', 30_000);
    writeFileSync(join(dir, 'fail'), ''); // worker 0 of the new phase boots, worker 1 throws in beforeWorkerBoot
    const restart = ctl(state, 'phased-restart', '--wait');
    // The old code answered {"message":"done","phase":1} and exited 0.
    expect(await restart.exited, restart.stdout()).toBe(1);
    expect(restart.stdout()).toBe('');
    expect(restart.stderr()).toMatch(/^tspuma ctl phased-restart: TSPUMA_ERR_CONTROL_WAIT: phased-restart --wait: the phased restart to phase 1 finished, but worker 1 of phase 1 failed to boot \(.*no DATABASE_URL.*\); it respawns with backoff\. \{"phase":1\}\n$/);
    rmSync(join(dir, 'fail'));
    await waitFor(async () => (await stats()).booted_workers === 2, 'worker 1 to boot once its failure is gone', 30_000);
  });

  it('stop --wait returns once the primary has exited: not while a worker stops, and after it the pid is gone and the state file removed', { timeout: 90_000 * SLOWNESS }, async () => {
    const primary = s.proc.pid!;
    expect(JSON.parse(readFileSync(state, 'utf8')).pid).toBe(primary);
    writeFileSync(join(dir, 'stop'), '');
    const stop = ctl(state, 'stop', '--wait');
    await waitFor(() => existsSync(join(dir, 'stop.0')), 'worker 0 to be held in its stop', 30_000);
    expect(stop.proc.exitCode).toBeNull(); // the old code had answered {"message":"stopping"} and exited 0 here
    rmSync(join(dir, 'stop'));
    expect(await stop.exited).toBe(0);
    expect(ended(primary)).toBe(true);
    expect(existsSync(state)).toBe(false);
    expect(JSON.parse(stop.stdout())).toEqual({ message: 'stopped', exitCode: 0, pid: primary });
    expect(await s.exited).toBe(0);
  });
});

describe('tspuma ctl phased-restart --wait whose new worker fails to boot (review20.4)', () => {
  it('says so on stderr, coded, with nothing on stdout, and exits 1', { timeout: 90_000 * SLOWNESS }, async () => {
    const dir = mine.tempDir();
    const state = join(dir, 'tspuma.state');
    const generation = join(dir, 'generation');
    const marker = join(dir, 'fail-once');
    writeFileSync(generation, 'A\n');
    const env = { TSPUMA_TEST_GENERATION: generation, TSPUMA_TEST_FAIL_ONCE: marker };
    const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, join(ROOT, 'test/fixtures/generation-app.mjs')], env);
    await waitFor(() => existsSync(state), 'the state file', 15_000);
    writeFileSync(marker, ''); // the next boot (the restart's new worker) throws at its import
    const restart = ctl(state, 'phased-restart', '--wait');
    expect(await restart.exited, restart.stdout() + restart.stderr()).toBe(1);
    expect(restart.stdout()).toBe(''); // the old code printed the control app's JSON answer here, and nothing on stderr
    expect(restart.stderr()).toMatch(/^tspuma ctl phased-restart: TSPUMA_ERR_RESTART_BOOT: Restart to phase 1 rolled back: new worker 0 failed to boot .*boot failure injected by the marker file/);
    const stop = ctl(state, 'stop', '--wait');
    expect(await stop.exited, stop.stderr()).toBe(0);
    expect(await s.exited).toBe(0);
  });
});
