// What the CPU-profile tests of test/fixtures/profile/app.ts share (inspect-profile.test and
// commonjs-lines.test): a paced load on its /burn route while `tspuma inspect profile` samples,
// and the frame checks of a profile against the app's source.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { CpuProfile } from '../../inspector/profile-map.js';

/**
 * Requests /burn one at a time, 40 ms apart, until `done` settles (at most 1000 requests or 30 s);
 * returns the count answered 200. The app burns a share of the profile's second, which is samples
 * enough in burnCpu: clients sending flat out kept it busy from the profiler's start to its exit.
 */
export async function burnWhile(url: string, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  const deadline = Date.now() + 30_000;
  let ok = 0;
  for (let sent = 0; !finished && sent < 1000 && Date.now() < deadline; sent++) {
    const res = await fetch(`${url}/burn`);
    await res.text();
    if (res.status === 200) ok++;
    await new Promise((r) => setTimeout(r, 40));
  }
  return ok;
}

/**
 * Checks a profile's frames in `file` (a copy of the fixture): burnCpu is there, at the line that
 * declares it; every frame names a line the file has; the `app` function's frames its declaration.
 * Returns burnCpu's line ticks.
 */
export function expectAppFrames(profile: CpuProfile, file: string): { line: number; ticks: number }[] {
  const source = readFileSync(file, 'utf8').split('\n');
  const inApp = profile.nodes.filter((n) => n.callFrame.url.startsWith('file:') && fileURLToPath(n.callFrame.url) === file);
  const burn = inApp.filter((n) => n.callFrame.functionName === 'burnCpu');
  expect(burn.length, `nodes in app.ts: ${JSON.stringify(inApp.map((n) => n.callFrame))}`).toBeGreaterThan(0);
  for (const n of burn) expect(source[n.callFrame.lineNumber]).toContain('function burnCpu(');
  for (const n of inApp) expect(n.callFrame.lineNumber).toBeLessThan(source.length);
  for (const n of inApp.filter((x) => x.callFrame.functionName === 'app')) expect(source[n.callFrame.lineNumber]).toContain('function app(');
  return burn.flatMap((n) => n.positionTicks ?? []);
}
