// Integration: the boot-time exposure warning of `-d` in development on a non-loopback bind, in
// single and cluster mode, and its absence on loopback. The 0.0.0.0 binds take a port the kernel
// picks and live only until their boot line.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';

afterEach(killAll);

const HELLO = join(ROOT, 'examples/hello.ts');
const exposures = (lines: Record<string, unknown>[]) => lines.filter((l) => l.exposure !== undefined);

describe('exposure warnings at boot', () => {
  it.each([
    ['single', []],
    ['cluster', ['-w', '1']],
  ])('%s mode, -d on tcp://0.0.0.0:0 in development: one warn line naming --debug, the bind, the 500 page and -e production', async (_mode, extra) => {
    const s = await boot(['-d', '-b', 'tcp://0.0.0.0:0', ...extra, HELLO]);
    const [line, ...rest] = exposures(s.lines());
    s.proc.kill('SIGKILL');
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 40, exposure: '--debug', value: 'environment development', source: '-d in command line' });
    expect(line!.msg).toMatch(/^--debug \(-d in command line\) with environment development on tcp:\/\/0\.0\.0\.0:0: every 500 page sends the stack, the arguments and the local values of the failing code .* run with -e production/);
  });

  it('-d on 127.0.0.1 says nothing of exposure', async () => {
    const s = await boot(['-d', '-b', 'tcp://127.0.0.1:0', HELLO]);
    expect(s.lines().some((l) => l.msg === 'Use Ctrl-C to stop')).toBe(true);
    expect(exposures(s.lines())).toEqual([]);
  });
});
