// Integration (-w 1): a probe across a deploy. A phased restart loads a changed copy of the file:
// two lines added above the probe's line move it with them (hits name the new line and read the
// statement it was set on); a later deploy that rewrites the line suspends the probe in the new
// worker with TSPUMA_ERR_PROBE_SOURCE_CHANGED, instead of logging another statement's values.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProbeView } from '../../server/cluster/probe-registry.js';
import { boot, killAll, run } from '../helpers/cli.js';
import { SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const APP = `import type { IncomingMessage, ServerResponse } from 'node:http';

function find(id: number): { id: number; name: string } | undefined {
  const user = id < 100 ? { id, name: \`user\${id}\` } : undefined;
  return user;
}

export default function handler(req: IncomingMessage, res: ServerResponse): void {
  const id = Number((req.url ?? '/').slice(1));
  res.end(JSON.stringify(find(id) ?? null));
}
`;
const LINE = 5; // return user;

/** A -w 1 server of APP with a logpoint `template` on LINE; deploy() writes a new version and waits for the restarted worker to arm the probe. */
async function probed(template: string) {
  const dir = tempDir('deploy');
  const app = join(dir, 'app.ts');
  const state = join(dir, 'tspuma.state');
  writeFileSync(app, APP);
  expect(APP.split('\n')[LINE - 1]).toBe('  return user;');
  // workerShutdownTimeout 5 s scaled (SLOWNESS): a bound on the old worker's stop at each phased restart.
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { workerCheckInterval: 1, workerShutdownTimeout: ${5 * SLOWNESS} };\n`);
  const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, app]);
  const { control_url: controlUrl, control_auth_token: token } = JSON.parse(readFileSync(state, 'utf8')) as { control_url: string; control_auth_token: string };
  const control = (path: string) => fetch(`${controlUrl.replace(/^tcp:/, 'http:')}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const set = run(['probe', 'log', `${app}:${LINE}`, template, '-S', state]);
  expect(await set.exited, set.stderr()).toBe(0);
  const id = Number(set.stdout().trim());
  const view = async () => (await okJson(await control(`/probes/${id}`), '/probes/ID')) as ProbeView;
  const deploy = async (text: string) => {
    const first = (await view()).workers['0']!.pid;
    writeFileSync(app, text);
    expect((await control('/phased-restart?wait=1')).status).toBe(200);
    await waitFor(async () => {
      const w = (await view()).workers['0'];
      return w?.state === 'armed' && w.pid !== first;
    }, 'the new worker armed', 60_000);
  };
  return { s, app, id, view, control, deploy, hits: () => s.lines().filter((l) => l.probe === id && typeof l.values === 'object') };
}

describe('a probe across a deploy that changes its file', () => {
  it('moves with its line when lines are added above it, and is suspended with a coded warning when its line is gone', async () => {
    const { s, app, id, view, control, deploy, hits } = await probed('user={user.name} id={id}');
    expect((await fetch(`${s.url}/1`)).status).toBe(200);
    await waitFor(() => hits().length === 1, 'the first hit');

    // The deploy: two lines above the probe's line.
    await deploy(`// a comment added by a deploy\n// and another\n${APP}`);
    const moved = s.lines().find((l) => l.probe === id && String(l.msg).includes('moved to'));
    expect(String(moved?.msg)).toContain(`moved to ${app}:${LINE + 2}`);
    expect((await fetch(`${s.url}/2`)).status).toBe(200);
    const second = await waitFor(() => hits()[1], 'the hit after the deploy');
    expect([second.location, second.values]).toEqual([`${app}:${LINE + 2}`, { 'user.name': 'user2', id: 2 }]);

    // The next deploy rewrites the line.
    writeFileSync(app, APP.replace('  return user;', '  return user ?? undefined;'));
    expect((await control('/phased-restart?wait=1')).status).toBe(200);
    const warned = await waitFor(() => s.lines().find((l) => l.probe === id && l.code === 'TSPUMA_ERR_PROBE_SOURCE_CHANGED'), 'the suspension', 60_000);
    expect(String(warned.msg)).toContain('the line it was set on, "return user;", is no longer in it, and that line number now reads "return user ?? undefined;"');
    expect((await fetch(`${s.url}/3`)).status).toBe(200);
    await waitFor(async () => (await view()).workers['0']?.state === 'suspended', 'the probe shown suspended');
    expect(hits()).toHaveLength(2);
  }, 180_000 * SLOWNESS);

  it('follows its line into its own function when a deploy puts the same text at its old line number in another function (S16)', async () => {
    const { s, app, id, deploy } = await probed('user={user.name}');
    // The deploy: a function above find() whose last line is also `  return user;`, now at line 5.
    const deployed = APP.replace('function find(', 'function findByName(name: string): { id: number; name: string } | undefined {\n  const user = name === \'root\' ? { id: 0, name } : undefined;\n  return user;\n}\n\nfunction find(');
    expect(deployed.split('\n')[LINE - 1]).toBe('  return user;');
    await deploy(deployed);
    const moved = s.lines().find((l) => l.probe === id && String(l.msg).includes('moved to'));
    expect(String(moved?.msg)).toContain(`moved to ${app}:${LINE + 5}`);
    expect((await fetch(`${s.url}/4`)).status).toBe(200);
    const hit = await waitFor(() => s.lines().find((l) => l.probe === id && typeof l.values === 'object'), 'the hit in find() after the deploy', 20_000);
    expect([hit.location, hit.values]).toEqual([`${app}:${LINE + 5}`, { 'user.name': 'user4' }]);
  }, 180_000 * SLOWNESS);
});
