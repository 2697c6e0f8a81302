// Integration: `tspuma -w N` when workers fail to boot: an app that can never boot ends the
// primary with its error and a hint; a phased restart whose new worker fails once leaves one
// generation serving and no leaked worker; a stop during a phased restart ends it without an error.
// A booted worker's crash loop under -d without a dump folder prints each failure site's dump once.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allBooted, boot, controlUrl, fromLog, killAll, run, ROOT } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { fetchFresh, SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { alive, ownedByTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

// Each case runs a cluster of its own and mostly waits on it (boot backoffs of 1 and 2 s, restarts):
// they run side by side ({ concurrent: true }), each ending its own processes when it finishes
// (ownedByTest). In turn the file took 9.8 s of a quiet run's wall for 3.2 s of CPU.
afterAll(killAll);

const TOKEN = 'test-token-0123456789';

interface ClusterStats {
  workers: number;
  phase: number;
  booted_workers: number;
  old_workers: number;
  worker_status: { pid: number; index: number; booted: boolean; phase: number }[];
}


describe('cluster boot failures', { concurrent: true }, () => {
  it('refuses a mistyped app path under -w 2 before any fork, with the single-mode line (TSPUMA_ERR_APP_NOT_FOUND) and exit 1', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const dir = tempDir('missing-app');
    const s = mine.adopt(run(['-w', '2', '-b', 'tcp://127.0.0.1:0', 'missing.ts'], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toBe(`tspuma: TSPUMA_ERR_APP_NOT_FOUND: No app to serve: ${join(dir, 'missing.ts')} (APP argument in command line) does not exist.\n`);
    // No worker was forked, so none failed to boot: no boot lines, no give-up, no --preload advice.
    expect(s.stdout()).not.toMatch(/Worker \d|--preload|TSPUMA_ERR_WORKER_BOOT/);
  });

  it('exits 1 with the app\'s error and the --preload hint when the app throws at import in cluster mode (-w 1)', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const started = Date.now();
    // Plain JavaScript: three failed worker boots, none of which the TypeScript hooks are the point
    // of. One worker: its index gives up as one of two would (two workers' six boots cost twice the
    // CPU for the same lines); which index gives up among several, and that any one failing
    // BOOT_ATTEMPTS times with none booted ends the primary, is test/unit/primary.test.ts's
    // 'gives up when no worker has booted and one index failed 3 times'.
    const s = mine.adopt(run(['-w', '1', '-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/throwing-app.mjs')]));
    await waitFor(() => s.proc.exitCode !== null || s.proc.signalCode !== null, 'the primary to give up', 25_000, 50);
    const code = await s.exited;
    const seconds = (Date.now() - started) / 1000;
    console.log(`gave up after ${seconds.toFixed(1)} s`);
    expect(code).toBe(1);
    const stderr = s.stderr();
    expect(stderr).toMatch(/^tspuma: TSPUMA_ERR_WORKER_BOOT: No worker has booted: worker \d failed to boot 3 times in a row; giving up\. Start with --preload/m);
    expect(stderr).toContain('DATABASE_URL is not set');
    expect(stderr).not.toContain('unexpected error');
    // Backoff before giving up: 1 s, then 2 s.
    expect(seconds).toBeGreaterThan(3);
    expect(seconds).toBeLessThan(25 * SLOWNESS);
  });

  it('with -d, dumps the import error of a worker that fails to boot ([boot], captured, > #0 connect at its .ts line), on stderr and in the dump folder', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const dir = tempDir('bootdumps');
    const app = 'test/fixtures/throwing-app.ts';
    // One worker, and one attempt (workerBootAttempts 1): the first failed boot is the one that
    // dumps (a later worker is forked with TSPUMA_WORKER_BOOT_FAILURES and does not), so the three
    // failed -d .ts boots of the default, and their 3 s of backoff, showed nothing more (tests24.4).
    const config = join(dir, 'tspuma.config.mjs');
    writeFileSync(config, 'export default { workerBootAttempts: 1 };\n');
    const s = mine.adopt(run(['-d', '--inspect=off', '-C', config, '-w', '1', '-b', 'tcp://127.0.0.1:0', app], { TSPUMA_DUMP_DIR: dir }));
    expect(await s.exited).toBe(1);
    // The worker's dump by its culprit, not by its place in the folder: the primary's give-up is a
    // [boot] dump too (culprit runCluster). Where none is the worker's, the failure lists the dumps
    // and the log's lines on worker 0 (tests22.3, cluster3.2: at a load of 40-60 only the
    // primary's was there, after ~170 s).
    const boots = dumpsIn(dir).filter((x) => x.phase === 'boot');
    const d = boots.find((x) => x.frames[x.culprit]?.function === 'connect');
    const workers = s.lines().map((l) => `${String(l.time)} ${String(l.msg)}`).filter((m) => /Worker 0|orker.* boot/.test(m));
    expect(d, `the worker's [boot] dump among ${JSON.stringify(boots.map((x) => ({ culprit: x.frames[x.culprit], message: x.error.message })))}\nthe log on worker 0:\n${workers.join('\n')}\nstderr:\n${s.stderr()}`).toBeDefined();
    expect(d!.captured).toBe(true);
    expect(d!.error.message).toContain('DATABASE_URL is not set');
    expect(d!.frames[d!.culprit]).toMatchObject({ function: 'connect', file: app, line: lineOf(app, "throw new Error('DATABASE_URL") });
    expect(s.stderr()).toMatch(/^tspuma dump #1 \[boot\] TspumaError: .*DATABASE_URL is not set/m);
    expect(s.stderr()).toMatch(/^ {2}> #0 connect {2}test\/fixtures\/throwing-app\.ts:\d+:\d+$/m);
    // The primary's give-up is a boot failure too, and no longer sends the user to --preload for the error.
    expect(s.stderr()).not.toMatch(/\[config\] TspumaError: No worker has booted/);
    expect(s.stderr()).toMatch(/^tspuma: TSPUMA_ERR_WORKER_BOOT: No worker has booted: worker 0 failed to boot at its first attempt \(workerBootAttempts 1\); giving up\. .*the worker's dump of it \(-d\) is above/m);
    // One worker was forked: no backoff, no second boot.
    expect(s.stdout()).not.toMatch(/respawning in/);
  }, 40_000 * SLOWNESS);

  it('a phased restart whose first new worker fails to boot once leaves the old generation alone serving; the next one replaces every worker', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const dir = tempDir('restart');
    const generation = join(dir, 'generation');
    const marker = join(dir, 'fail-once');
    writeFileSync(generation, 'A\n');
    const config = join(dir, 'tspuma.config.mjs');
    // workerTimeout and workerShutdownTimeout scaled by the load: a worker starved of a CPU is not hung.
    writeFileSync(config, `export default { workerCheckInterval: 1, workerTimeout: ${4 * SLOWNESS}, workerShutdownTimeout: ${5 * SLOWNESS} };\n`);
    const app = join(ROOT, 'test/fixtures/generation-app.mjs');
    const env = { TSPUMA_TEST_GENERATION: generation, TSPUMA_TEST_FAIL_ONCE: marker };
    const s = mine.adopt(await boot(['-C', config, '-w', '2', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, app], env));
    const control = await controlUrl(s);
    const stats = async () => (await okJson(await fetchFresh(`${control}/stats?token=${TOKEN}`), '/stats')) as ClusterStats;
    /** Generations answering `count` requests, each on a fresh connection. */
    const generations = async (count: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < count; i++) seen.add((await (await fetch(s.url, { headers: { connection: 'close' } })).text()).split(' ')[1]!);
      return [...seen].sort();
    };
    const first = await waitFor(async () => {
      const st = await stats();
      return st.booted_workers === 2 ? st : null;
    }, 'two booted workers');
    const oldPids = first.worker_status.map((w) => w.pid);

    // A new deploy whose first boot fails once.
    writeFileSync(generation, 'B\n');
    writeFileSync(marker, '');
    s.proc.kill('SIGUSR1');
    await waitFor(() => /phased restart failed/.test(s.stdout()), 'the restart to fail', 20_000);
    expect(s.stdout()).toContain('boot failure injected by the marker file');
    expect(s.stdout()).toMatch(/Restart to phase 1 rolled back: new worker 0 failed to boot .*; the workers of phase 0 keep serving\. A worker of phase 0 that dies from now on \(a crash, an OOM kill\) is replaced from the app's files as they are now and may fail the same way: fix them or revert the deploy\./);
    const after = await stats();
    expect({ phase: after.phase, booted: after.booted_workers, old: after.old_workers, pids: after.worker_status.map((w) => w.pid).sort() }).toEqual({
      phase: 0,
      booted: 2,
      old: 0,
      pids: [...oldPids].sort(),
    });
    expect(await generations(20)).toEqual(['A']);

    // The fixed deploy: the marker is gone. Every worker is replaced; no old one survives.
    s.proc.kill('SIGUSR1');
    await waitFor(() => /Phased restart finished, phase 1/.test(s.stdout()), 'the second restart to finish', 20_000);
    await waitFor(() => !oldPids.some(alive), 'the old workers to exit', 10_000);
    const done = await stats();
    expect({ phase: done.phase, booted: done.booted_workers, old: done.old_workers, phases: done.worker_status.map((w) => w.phase) }).toEqual({ phase: 1, booted: 2, old: 0, phases: [1, 1] });
    expect(await generations(20)).toEqual(['B']);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('SIGTERM during a phased restart: the restart ends with an info line that the server is stopping, no error line or stack, and the primary exits 0', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const s = mine.adopt(await boot(['-w', '2', '-b', 'tcp://127.0.0.1:0', 'test/fixtures/apps/hello.mjs']));
    await allBooted(s);
    s.proc.kill('SIGUSR1');
    await fromLog(s, (l) => (String(l.msg).startsWith('- Starting phased restart') ? l : undefined), 'the restart to start');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const lines = s.lines();
    expect(lines.filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);
    expect(lines.filter((l) => /phased restart/i.test(String(l.msg))).map((l) => `${l.level} ${l.msg}`)).toEqual([
      '30 - Starting phased restart, phase 1',
      '30 - Phased restart not finished: the server is stopping',
    ]);
  });

  it('the same through the control app (`ctl phased-restart` without --wait): the restart a stop cut short is an info line, not an error', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const s = mine.adopt(await boot(['-w', '2', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, 'test/fixtures/apps/hello.mjs']));
    await allBooted(s);
    const answer = await fetch(`${await controlUrl(s)}/phased-restart?token=${TOKEN}`);
    expect(answer.status).toBe(202);
    await fromLog(s, (l) => (String(l.msg).startsWith('- Starting phased restart') ? l : undefined), 'the restart to start');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const lines = s.lines();
    expect(lines.filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);
    expect(lines.filter((l) => /restart/i.test(String(l.msg))).map((l) => `${l.level} ${l.msg}`)).toEqual([
      '30 - Starting phased restart, phase 1',
      '30 - Phased restart not finished: the server is stopping',
    ]);
  });
});

describe('a crash loop under -d without a dump folder', () => {
  it('-w 2: each failure site is dumped in full once for the whole cluster, not again by every respawned worker (review9.5)', async (ctx) => {
    const mine = ownedByTest(ctx, 'cluster-boot');
    const dir = tempDir('crash-loop');
    // Jobs started at module load: a rejection nobody awaits (the worker serves on), then an
    // uncaught TypeError that ends the worker; its replacement does the same.
    const app = join(dir, 'jobs.mjs');
    writeFileSync(
      app,
      [
        'const cache = new Map();',
        'async function warmup() {',
        '  await new Promise((r) => setTimeout(r, 50));',
        "  throw new Error('warmup: upstream returned 503');",
        '}',
        'void warmup();',
        'setTimeout(function refresh() {',
        "  const entry = cache.get('rates');",
        "  cache.set('rates', entry.value + 1);",
        '}, 300);',
        'export default () => new Response("ok\\n");',
        '',
      ].join('\n'),
    );
    const s = mine.adopt(run(['-d', '--inspect=off', '-w', '2', '-b', 'tcp://127.0.0.1:0', app]));
    // Four deaths: at least two of them respawned workers, each having failed at both sites.
    const deaths = () => s.lines().filter((l) => /^Worker \d \(PID: \d+\) died \(exit 1\); respawning/.test(String(l.msg))).length;
    await waitFor(() => deaths() >= 4, 'four worker deaths', 60_000 * SLOWNESS, 100);
    s.proc.kill('SIGTERM');
    await s.exited;
    const fatal = s.lines().filter((l) => / uncaught exception, stopping: Cannot read properties of undefined/.test(String(l.msg))).length;
    const rejected = s.lines().filter((l) => / Unhandled promise rejection .*warmup: upstream returned 503/.test(String(l.msg))).length;
    expect({ fatal: fatal >= 4, rejected: rejected >= 4 }, s.stdout()).toEqual({ fatal: true, rejected: true });
    // The full dumps on stderr, by their first line: one per site.
    const headers = s.stderr().split('\n').filter((l) => l.startsWith('tspuma dump #'));
    expect(headers.map((h) => h.replace(/#\d+/, '#N')).sort(), s.stderr()).toEqual(['tspuma dump #N [app] Error: warmup: upstream returned 503', "tspuma dump #N [app] TypeError: Cannot read properties of undefined (reading 'value')"]);
    // Each worker's stop line says where its dump is: above for the one that printed it, another
    // worker's (printed once, by that worker) for the rest, never "is above" for a dump it did not print.
    const stops = s.lines().map((l) => String(l.msg)).filter((m) => / stopped because of an uncaught exception/.test(m));
    const printed = stops.filter((m) => /\(exit code 1; its dump is above\)/.test(m));
    const others = stops.filter((m) => /\(exit code 1; a repeat of the failure at \S*jobs\.mjs:9 that another worker of this cluster dumped: printed in full once, by that worker\)/.test(m));
    expect({ printed: printed.length <= 1, others: others.length >= 2, all: printed.length + others.length === stops.length }, stops.join('\n')).toEqual({ printed: true, others: true, all: true });
    // A respawned worker's repeat of the rejection names the site another worker dumped, not by
    // the respawn's own number for it, never shown (review20.1).
    expect(s.lines().some((l) => /Unhandled promise rejection .*warmup: upstream returned 503 \(a repeat of the failure at \S*jobs\.mjs:4 that another worker dumped, printed in full once by that worker\)$/.test(String(l.msg)))).toBe(true);
  }, 90_000 * SLOWNESS);
});
