// Integration: `-w auto` boots as many workers as availableCpus() gives on this machine, and the
// Workers boot line says how that number was found.
import { afterEach, describe, expect, it } from 'vitest';
import { availableCpus } from '../../server/available-cpus.js';
import { boot, killAll, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterEach(killAll);

describe('-w auto', () => {
  it('forks one worker per available CPU (cgroup quota included) and says so on the Workers line', async () => {
    const expected = availableCpus();
    const s = await boot(['-w', 'auto', '-b', 'tcp://127.0.0.1:0', `${ROOT}test/fixtures/cluster-app.mjs`], { WEB_CONCURRENCY: undefined });
    expect(s.lines().map((l) => l.msg)).toContain(`*      Workers: ${expected.count} (${expected.how})`);
    await waitFor(() => s.lines().some((l) => l.msg === `- All ${expected.count} workers booted`), 'every worker booted');
  });
});
