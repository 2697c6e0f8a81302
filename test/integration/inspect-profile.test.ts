// Integration: `tspuma inspect profile` on a .ts app under load writes a .cpuprofile whose call
// frames name the app's .ts file at lines that exist there (esbuild, tsx ESM, tsx CommonJS).
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../inspector/profile-map.js';
import { boot, killAll, run, ROOT } from '../helpers/cli.js';

afterEach(killAll);

const FIXTURE = join(ROOT, 'test/fixtures/profile/app.ts');

/** Requests /burn from 4 clients until `done` settles, at most 2000 requests or 30 s; returns the count answered 200. */
async function load(url: string, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  const deadline = Date.now() + 30_000;
  let sent = 0;
  let ok = 0;
  const client = async () => {
    while (!finished && sent < 2000 && Date.now() < deadline) {
      sent++;
      const res = await fetch(`${url}/burn`);
      await res.text();
      if (res.status === 200) ok++;
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  return ok;
}

async function profileOf(app: string, env: Record<string, string>) {
  const s = await boot(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', app], env);
  const discovery = String(s.lines().find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
  const out = join(mkdtempSync(join(tmpdir(), 'tspuma-profile-')), 'p.cpuprofile');
  const profiler = run(['inspect', 'profile', '--seconds', '1', '--out', out, '--url', discovery]);
  const answered = await load(s.url, profiler.exited);
  expect(await profiler.exited, profiler.stderr()).toBe(0);
  expect(answered).toBeGreaterThan(0);
  return { profile: JSON.parse(readFileSync(out, 'utf8')) as CpuProfile, stderr: profiler.stderr() };
}

const cases: [string, () => string, Record<string, string>][] = [
  ['esbuild (an ES-module package)', () => FIXTURE, {}],
  ['tsx ESM', () => FIXTURE, { TSPUMA_TS_LOADER: 'tsx' }],
  [
    'tsx CommonJS (a package without "type": "module")',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'tspuma-profile-cjs-'));
      writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
      copyFileSync(FIXTURE, join(dir, 'app.ts'));
      return join(dir, 'app.ts');
    },
    {},
  ],
];

describe('tspuma inspect profile', () => {
  it.each(cases)('%s: frames of burnCpu point at the line of app.ts that declares it', async (_name, app, env) => {
    const file = app();
    const { profile, stderr } = await profileOf(file, env);
    const source = readFileSync(file, 'utf8').split('\n');
    const inApp = profile.nodes.filter((n) => n.callFrame.url.startsWith('file:') && fileURLToPath(n.callFrame.url) === file);
    const burn = inApp.filter((n) => n.callFrame.functionName === 'burnCpu');
    expect(burn.length, `nodes in app.ts: ${JSON.stringify(inApp.map((n) => n.callFrame))}`).toBeGreaterThan(0);
    for (const n of burn) expect(source[n.callFrame.lineNumber]).toContain('function burnCpu(');
    // Every frame in app.ts names a line the file has, and the `app` function's line declares it.
    for (const n of inApp) expect(n.callFrame.lineNumber).toBeLessThan(source.length);
    for (const n of inApp.filter((x) => x.callFrame.functionName === 'app')) expect(source[n.callFrame.lineNumber]).toContain('function app(');
    // Line ticks that were kept name lines of burnCpu, lines 3-7 (a sample may land on its entry).
    const ticks = burn.flatMap((n) => n.positionTicks ?? []);
    for (const t of ticks) expect(t.line).toBeGreaterThanOrEqual(3);
    for (const t of ticks) expect(t.line).toBeLessThanOrEqual(7);
    expect(stderr).toMatch(/call frames mapped to their source/);
  });
});
