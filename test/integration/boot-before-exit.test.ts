// Integration: booting a .ts app emits no beforeExit in any thread before the boot line. A
// --require preload (NODE_OPTIONS, as clinic doctor injects its sampler) writes a line for each.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';

afterEach(killAll);

const PRELOAD = join(ROOT, 'test/fixtures/preload/before-exit.cjs');

describe('boot without beforeExit', () => {
  it.each(['auto', 'tsx'])('TSPUMA_TS_LOADER=%s: no thread emits beforeExit while a .ts app boots, and the preload ran in the hooks thread too', async (loader) => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', join(ROOT, 'examples/hello.ts')], { NODE_OPTIONS: `--require ${PRELOAD}`, TSPUMA_TS_LOADER: loader });
    const stderr = s.stderr();
    // The preload ran in the main thread and in the module-hooks thread (where beforeExit fired).
    expect(stderr).toContain('preload: loaded in thread 0');
    expect(stderr).toMatch(/preload: loaded in thread [1-9]/);
    expect(stderr).not.toContain('beforeExit');
  });
});
