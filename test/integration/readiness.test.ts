// /ready tells the truth in cluster mode: 503 with a reason whenever no worker can serve (before
// the first boot, after the only worker died while its replacement cannot boot, while draining),
// 200 only while some worker serves.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll } from '../helpers/cli.js';
import { get, waitFor } from '../helpers/net.js';

const dirs: string[] = [];
afterEach(async () => {
  await killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const healthUrl = (s: Parameters<typeof fromLog>[0]) => fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl.replace(/^tcp:/, 'http:') : undefined), 'the health line');

describe('cluster /ready', () => {
  it('is 503 with the reason in its body once the only worker died and its replacement cannot boot, and 200 again never before a worker serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-ready-'));
    dirs.push(dir);
    const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', 'test/fixtures/apps/boot-once-app.ts'], { BOOT_ONCE_MARK: join(dir, 'booted') });
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
