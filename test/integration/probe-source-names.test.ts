// Integration (single mode): a probe's template and --when name bindings as the .ts source does,
// though esbuild renamed them: a parameter `discounts` that shadows a module constant of the same
// name compiles as `discounts2`; the probe reads the parameter, as the line does, not the constant.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, run } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/values-app.ts';
const LINE = lineOf(APP, 'const d = discounts.get(l.sku) ?? 0;');

afterAll(killAll);

describe('probe expressions and renamed bindings', () => {
  it('a template and a --when read the parameter the line reads (compiled as discounts2), not the module constant it shadows', async () => {
    const state = join(tempDir('names'), 'tspuma.state');
    const s = await boot(['-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP]);
    // The module constant has 2 entries, the parameter /total passes has 1 (hat => 2).
    const set = run(['probe', 'log', `${APP}:${LINE}`, 'size={discounts.size} hat={discounts.get("hat")} sku={l.sku}', '--when', 'discounts.size === 1', '-S', state]);
    expect(await set.exited, set.stderr()).toBe(0);
    const id = Number(set.stdout().trim());
    expect((await fetch(`${s.url}/total`)).status).toBe(500);
    const hit = await waitFor(() => s.lines().find((l) => l.probe === id && typeof l.values === 'object'), 'the hit', 20_000);
    expect(hit.values).toEqual({ 'discounts.size': 1, 'discounts.get("hat")': 2, 'l.sku': 'hat' });
    // The condition was set on the renamed binding too: a second request is logged as well.
    expect((await fetch(`${s.url}/total`)).status).toBe(500);
    await waitFor(() => s.lines().filter((l) => l.probe === id && typeof l.values === 'object').length === 2, 'the second hit', 20_000);
  }, 60_000 * SLOWNESS);
});
