// Integration: --preload loads the app once before forking in a process of its own that then
// exits: the app's module-level jobs never run in the primary, and a throw in one cannot end it;
// a broken app still fails once, fast, with its coded line and no worker forked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allBooted, boot, fromLog, killAll, run } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';

afterEach(killAll);

const root = appFolder('preload-check', {
  // A job started at module load (a cache refresher, a queue poller) that fails at its 5th tick.
  // Plain JavaScript: the check process and every worker load it, and TypeScript is not the point.
  'cron-app.mjs': [
    "import { appendFileSync } from 'node:fs';",
    'let ticks = 0;',
    'setInterval(() => {',
    "  appendFileSync(new URL('./ticks.txt', import.meta.url), `${process.pid}\\n`);",
    '  if (++ticks === 5) throw new Error(`nightly job failed at tick ${ticks}`);',
    '}, 200);',
    "export default () => new Response('ok');",
    '',
  ].join('\n'),
  // Plain JavaScript too: a .ts app here, in a folder with no node_modules, compiled at each boot.
  'broken-app.mjs': "const cfg = JSON.parse('{bad');\nexport default () => new Response(String(cfg));\n",
});

describe('--preload', () => {
  // One worker: what the primary never runs and outlives is the same for one worker as for two (a
  // second worker booted again at each of its job's throws, every second).
  it("the app's module-level job runs in the worker only: never in the primary, which outlives the job's throw in its worker", async () => {
    const s = await boot(['--preload', '-w', '1', '-b', 'tcp://127.0.0.1:0', 'cron-app.mjs'], {}, root);
    await allBooted(s);
    const checkPid = await fromLog(s, (l) => (String(l.msg).startsWith('* Preloaded the app in a check process') ? (l.checkPid as number) : undefined), 'the preload line');
    expect(checkPid).not.toBe(s.proc.pid);
    // The worker's copy of the job throws at its 5th tick: the worker stops and is replaced.
    await fromLog(s, (l) => (String(l.msg).includes('(exit 1); respawning') ? true : undefined), "a worker's death by the job's throw", 30_000);
    const ticks = readFileSync(join(root, 'ticks.txt'), 'utf8').trim().split('\n').map(Number);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    expect(ticks).not.toContain(s.proc.pid);
    // (No request here: with its only worker dying, a port-0 bind may come back elsewhere: R1.)
    expect(s.proc.exitCode).toBeNull();
    expect(s.lines().some((l) => l.pid === s.proc.pid && l.level === 60)).toBe(false);
  });

  it('an app that throws at import: the coded line once, a line saying no worker was forked, exit 1', async () => {
    const s = run(['--preload', '-w', '2', '-b', 'tcp://127.0.0.1:0', 'broken-app.mjs'], {}, root);
    expect(await s.exited).toBe(1);
    expect(s.stderr().match(/^tspuma: TSPUMA_ERR_APP_LOAD: Loading app .*broken-app\.mjs failed: SyntaxError/gm)).toHaveLength(1);
    expect(s.lines().some((l) => /^- The app failed the preload check \(PID: \d+, exit 1\) before its import finished: its error is above; no worker was forked$/.test(String(l.msg)))).toBe(true);
    expect(s.lines().some((l) => String(l.msg).includes('booting, phase'))).toBe(false);
  });
});
