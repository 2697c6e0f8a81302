// Integration: `tspuma inspect profile` on a .ts app under load writes a .cpuprofile whose call
// frames name the app's .ts file at lines that exist there (esbuild, tsx ESM; a CommonJS package's
// app.ts, compiled by tsx, is test/integration/commonjs-lines.test.ts's).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../inspector/profile-map.js';
import { boot, killAll, run, ROOT } from '../helpers/cli.js';
import { burnWhile, expectAppFrames } from '../helpers/profile-fixture.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const FIXTURE = join(ROOT, 'test/fixtures/profile/app.ts');

async function profileOf(app: string, env: Record<string, string>) {
  const s = await boot(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', app], env);
  const discovery = String(s.lines().find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
  const out = join(tempDir('profile'), 'p.cpuprofile');
  const profiler = run(['inspect', 'profile', '--seconds', '1', '--out', out, '--url', discovery]);
  const answered = await burnWhile(s.url, profiler.exited);
  expect(await profiler.exited, profiler.stderr()).toBe(0);
  expect(answered).toBeGreaterThan(0);
  return { profile: JSON.parse(readFileSync(out, 'utf8')) as CpuProfile, stderr: profiler.stderr() };
}

const cases: [string, () => string, Record<string, string>][] = [
  ['esbuild (an ES-module package)', () => FIXTURE, {}],
  ['tsx ESM', () => FIXTURE, { TSPUMA_TS_LOADER: 'tsx' }],
];

describe('tspuma inspect profile', () => {
  it.each(cases)('%s: frames of burnCpu point at the line of app.ts that declares it', async (_name, app, env) => {
    const file = app();
    const { profile, stderr } = await profileOf(file, env);
    // burnCpu at the line that declares it, every frame in app.ts at a line the file has, and the
    // `app` function's frames at its declaration.
    const ticks = expectAppFrames(profile, file);
    // Line ticks that were kept name lines of burnCpu, lines 3-7 (a sample may land on its entry).
    for (const t of ticks) expect(t.line).toBeGreaterThanOrEqual(3);
    for (const t of ticks) expect(t.line).toBeLessThanOrEqual(7);
    expect(stderr).toMatch(/call frames mapped to their source/);
  });
});
