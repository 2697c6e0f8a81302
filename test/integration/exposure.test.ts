// Integration: the boot-time exposure warning of `-d` in development on a non-loopback bind, in
// single and cluster mode, and its absence on loopback. Tests bind loopback only: the test holds
// 127.0.0.1:PORT first, so tspuma's 0.0.0.0:PORT bind fails (EADDRINUSE) after the warning is
// logged, and nothing ever listens beyond loopback.
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, run } from '../helpers/cli.js';

afterEach(killAll);

const HELLO = join(ROOT, 'test/fixtures/apps/hello.mjs');
const exposures = (lines: Record<string, unknown>[]) => lines.filter((l) => l.exposure !== undefined);

/** A loopback listener on a port the kernel picks: 0.0.0.0 on the same port cannot be bound. */
async function holdLoopbackPort(): Promise<{ port: number; close(): void }> {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  return { port: (holder.address() as net.AddressInfo).port, close: () => holder.close() };
}

describe('exposure warnings at boot', () => {
  it.each([
    ['single', []],
    ['cluster', ['-w', '1']],
  ])('%s mode, -d on tcp://0.0.0.0 in development: one warn line naming --debug, the bind, the 500 page and -e production', async (_mode, extra) => {
    const held = await holdLoopbackPort();
    try {
      const bind = `tcp://0.0.0.0:${held.port}`;
      const s = run(['-d', '-b', bind, ...extra, HELLO]);
      const code = await s.exited;
      // The bind itself failed, so nothing listened beyond loopback; the warning came first.
      expect(code).not.toBe(0);
      expect(s.stderr()).toContain('TSPUMA_ERR_LISTEN_ADDRINUSE');
      const [line, ...rest] = exposures(s.lines());
      expect(rest).toEqual([]);
      expect(line).toMatchObject({ level: 40, exposure: '--debug', value: 'environment development', source: '-d in command line' });
      expect(line!.msg).toContain(`--debug (-d in command line) with environment development on ${bind}: every 500 page sends the stack, the arguments and the local values of the failing code`);
      expect(line!.msg).toContain('run with -e production');
    } finally {
      held.close();
    }
  });

  it('-d on 127.0.0.1 says nothing of exposure', async () => {
    const s = await boot(['-d', '-b', 'tcp://127.0.0.1:0', HELLO]);
    expect(s.lines().some((l) => l.msg === 'Use Ctrl-C to stop')).toBe(true);
    expect(exposures(s.lines())).toEqual([]);
  });
});
