// Integration: single mode with an app whose import never finishes (a top-level await on a host
// that does not answer): the boot lines come before the import, a warning repeats while it has not
// finished, and SIGTERM meanwhile ends the process with a line saying what was still loading.
import { afterEach, describe, expect, it } from 'vitest';
import { appFolder, fromLog, killAll, run } from '../helpers/cli.js';

afterEach(killAll);

const root = appFolder('app-loading', {
  'tla-app.ts': [
    '// A connect to a black-holed database host: the top-level await does not settle (in this test\'s time).',
    'async function connectDb(url: string): Promise<void> { await new Promise((resolve) => setTimeout(resolve, 600_000)); }',
    "await connectDb('postgres://app:tlapw123456@10.255.255.1:5432/app');",
    "export default (request: Request): Response => new Response('ok');",
    '',
  ].join('\n'),
});

describe('an app whose import does not finish (single mode)', () => {
  it('says it is loading, warns after 10 s that it still is, and on SIGTERM exits with a line naming it', async () => {
    const s = run(['-b', 'tcp://127.0.0.1:0', 'tla-app.ts'], {}, root);
    await fromLog(s, (l) => (l.msg === '* Loading the app tla-app.ts ...' ? true : undefined), 'the loading line');
    const msgs = s.lines().map((l) => String(l.msg));
    expect(msgs.slice(0, 2)).toEqual([expect.stringMatching(/^tspuma \S+ starting in single mode\.\.\.$/), expect.stringMatching(/^\* Node version: /)]);
    const still = await fromLog(s, (l) => (String(l.msg).startsWith('Still loading the app tla-app.ts after ') ? l : undefined), 'the still-loading warning', 40_000);
    expect(still.level).toBe(40);
    expect(still.msg).toMatch(/^Still loading the app tla-app\.ts after \d+ s: its import has not finished/);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.lines().at(-1)?.msg).toMatch(/^Received SIGTERM while the app tla-app\.ts was loading \(for \d+ s; its import had not finished\): exiting before serving$/);
  });
});
