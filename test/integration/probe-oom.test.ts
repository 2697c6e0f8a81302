// A worker that reaches its heap limit with a probe set dies as it would without one (S3): V8,
// with a debugger session enabled, raises the limit and pauses (reason OOM) at it; the probe
// engine's session resumes that pause, so the worker ends with Node's out-of-memory abort and is
// replaced, instead of freezing every request it holds until workerTimeout.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, controlUrl, killAll, ROOT } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';

const APP = join(ROOT, 'test/fixtures/apps/leak-app.mjs');
const TOKEN = 'probe-token-oom-0123456789abcdef';

afterAll(killAll);

describe('a probe set while a worker leaks to its heap limit', () => {
  it('the worker dies of the out-of-memory abort and is replaced, not frozen until workerTimeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-probe-oom-'));
    // workerTimeout far beyond the test: a frozen worker would not be killed within it.
    writeFileSync(join(dir, 'tspuma.config.mjs'), 'export default { workerTimeout: 300 };\n');
    const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, APP], { NODE_OPTIONS: '--max-old-space-size=24' });
    const control = await controlUrl(s);
    const set = await fetch(`${control}/probes`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ kind: 'log', location: `${APP}:11`, template: 'quiet {quiet}', by: 'the test' }) });
    expect(set.status).toBe(201);
    const died = () => s.lines().find((l) => /^Worker 0 \(PID: \d+\) died/.test(String(l.msg)));
    const deadline = Date.now() + 60_000 * SLOWNESS;
    for (let i = 0; i < 200 && !died() && Date.now() < deadline; i++) {
      await fetch(`${s.url}/leak`, { signal: AbortSignal.timeout(2_000 * SLOWNESS) }).catch(() => undefined);
    }
    const line = await waitFor(died, 'the worker to die of the heap limit', 30_000);
    expect(String(line.msg)).toMatch(/died \(SIGABRT\)/);
    expect(s.lines().filter((l) => l.code === 'TSPUMA_ERR_WORKER_TIMEOUT')).toEqual([]);
    // Its replacement serves.
    await waitFor(async () => (await fetch(`${s.url}/quiet`).catch(() => null))?.status === 200, 'the replacement to serve', 30_000);
  });
});
