// /ready tells the truth in cluster mode: 503 with a reason whenever no worker can serve (before
// the first boot, after the only worker died while its replacement cannot boot, while draining),
// 200 only while some worker serves.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll } from '../helpers/cli.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';
import { ownedByTest } from '../helpers/processes.js';

// Every case boots a server of its own and mostly waits on it (a backoff, overdue check-ins, the
// app's checks): they run side by side ({ concurrent: true }), each ending its own server and
// folder when it finishes. In turn the file took 9.0 s of a quiet run's wall for 1.1 s of CPU.
afterAll(killAll);

const healthUrl = (s: Parameters<typeof fromLog>[0]) => fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl.replace(/^tcp:/, 'http:') : undefined), 'the health line');

describe('cluster /ready', { concurrent: true }, () => {
  it('is 503 with the reason in its body once the only worker died and its replacement cannot boot, and 200 again never before a worker serves', async (ctx) => {
    const mine = ownedByTest(ctx, 'ready');
    const dir = mine.tempDir();
    const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', 'test/fixtures/apps/boot-once-app.mjs'], { BOOT_ONCE_MARK: join(dir, 'booted') }).then(mine.adopt);
    const health = await healthUrl(s);
    const ready = await get(`${health}/ready`);
    expect([ready.status, JSON.parse(ready.body).status]).toEqual([200, 'ready']);
    const worker = Number((await get(s.url)).body);
    process.kill(worker, 'SIGKILL');
    const down = await waitFor(async () => {
      const r = await get(`${health}/ready`);
      return r.status === 503 ? r : null;
    }, '/ready to answer 503 after the only worker died', 10_000, 50);
    const body = JSON.parse(down.body) as { status: string; reason: string };
    expect(body.status).toBe('unavailable');
    expect(body.reason).toMatch(/^no worker serves: worker 0 (is booting|died)/);
    // The replacement keeps failing to boot (backoff): /ready stays 503 across its attempts.
    await fromLog(s, (l) => (/boots only once/.test(JSON.stringify(l)) ? true : undefined), 'a failed boot of the replacement');
    for (let i = 0; i < 5; i++) expect((await get(`${health}/ready`)).status).toBe(503);
    expect((await get(`${health}/health`)).status).toBe(200);
  });
});

describe('cluster /ready while every worker is blocked (S8)', { concurrent: true }, () => {
  it('is 503 naming the silent worker once its check-ins are overdue, long before workerTimeout, and 200 again when it checks in', async (ctx) => {
    const mine = ownedByTest(ctx, 'ready-blocked');
    const dir = mine.tempDir();
    const cfg = join(dir, 'checks.config.mjs');
    // Check-ins every 0.5 s: overdue after 2 s (twice the interval and a second); workerTimeout far beyond the block.
    writeFileSync(cfg, 'export default { workerCheckInterval: 0.5, workerTimeout: 120 };\n');
    const s = await boot(['-w', '1', '-C', cfg, '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', 'test/fixtures/apps/block-app.mjs']).then(mine.adopt);
    const health = await healthUrl(s);
    await waitFor(async () => (await get(`${health}/ready`)).status === 200, '/ready 200 after boot');
    // Blocked until the test has seen the 503 (60 s only bounds it), not for a guessed time.
    const release = join(dir, 'release');
    const blocked = get(`${s.url}/block?ms=60000&until=${release}`, undefined, 70_000 * SLOWNESS);
    const down = await waitFor(async () => {
      const r = await get(`${health}/ready`);
      return r.status === 503 ? r : null;
    }, '/ready 503 while the only worker is blocked', 15_000, 100);
    writeFileSync(release, '');
    const body = JSON.parse(down.body) as { status: string; reason: string };
    expect(body.status).toBe('unavailable');
    expect(body.reason).toMatch(/^no worker serves: worker 0 has not checked in for \d+\.\d s \(its event loop is blocked or paused\)$/);
    expect((await blocked).status).toBe(200);
    await waitFor(async () => (await get(`${health}/ready`)).status === 200, '/ready 200 once the worker checks in again', 10_000, 100);
  });
});

describe("the app's ready(), health() and shutdown() exports", { concurrent: true }, () => {
  for (const mode of [[], ['-w', '1']]) {
    const name = mode.length ? 'cluster mode' : 'single mode';
    it(`${name}: /ready and /health follow the app's checks with their reasons, a check slower than healthCheckTimeout fails, and shutdown() runs at stop`, async (ctx) => {
      const mine = ownedByTest(ctx, 'checks');
      const dir = mine.tempDir();
      const s = await boot([...mode, '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', '--health-check-timeout', '0.5', 'test/fixtures/apps/checked-app.mjs'], { CHECK_DIR: dir }).then(mine.adopt);
      const health = await healthUrl(s);
      const status = async (path: string) => {
        const r = await get(`${health}${path}`);
        return { code: r.status, ...(JSON.parse(r.body) as { status: string; reason?: string }) };
      };
      await waitFor(async () => (await status('/ready')).code === 200, '/ready 200');
      writeFileSync(join(dir, 'not-ready'), '');
      const notReady = await waitFor(async () => ((await status('/ready')).code === 503 ? status('/ready') : null), '/ready 503 once ready() returns false', 10_000, 100);
      expect(notReady.reason).toMatch(/the app's ready\(\) returned false$/);
      rmSync(join(dir, 'not-ready'));
      await waitFor(async () => (await status('/ready')).code === 200, '/ready 200 again', 10_000, 100);
      writeFileSync(join(dir, 'slow'), '');
      const slow = await waitFor(async () => ((await status('/ready')).code === 503 ? status('/ready') : null), '/ready 503 once ready() is too slow', 15_000, 100);
      expect(slow.reason).toMatch(/the app's ready\(\) did not settle within 0\.5 s \(healthCheckTimeout\)$/);
      rmSync(join(dir, 'slow'));
      writeFileSync(join(dir, 'sick'), '');
      const sick = await waitFor(async () => ((await status('/health')).code === 503 ? status('/health') : null), '/health 503 once health() throws', 15_000, 100);
      // A cluster says which worker's check gave the reason.
      expect([sick.status, sick.reason]).toEqual(['unhealthy', `${mode.length ? 'worker 0: ' : ''}the app's health() failed: database connection lost`]);
      expect((await get(s.url)).status).toBe(200);
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(existsSync(join(dir, 'shut-down'))).toBe(true);
    }, 60_000 * SLOWNESS);
  }
});
