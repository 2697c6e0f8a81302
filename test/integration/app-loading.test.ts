// Integration: single mode with an app whose import never finishes (a top-level await on a host
// that does not answer): the boot lines come before the import, and SIGTERM meanwhile ends the
// process with a line saying what was still loading (the warning that repeats while it has not
// finished is test/unit/app-loading.test.ts's).
import { afterEach, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll, run } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { appFolder } from '../helpers/app-folder.js';

afterEach(killAll);

const root = appFolder('app-loading', {
  'tla-app.ts': [
    '// A connect to a black-holed database host: the top-level await does not settle (in this test\'s time).',
    'async function connectDb(url: string): Promise<void> { await new Promise((resolve) => setTimeout(resolve, 600_000)); }',
    "await connectDb('postgres://app:tlapw123456@10.255.255.1:5432/app');",
    "export default (request: Request): Response => new Response('ok');",
    '',
  ].join('\n'),
  // An Express tutorial's shape: the app exported, and listening by itself too.
  'self-listen-app.ts': [
    "import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';",
    "const handler = (req: IncomingMessage, res: ServerResponse): void => void res.end('hi');",
    "createServer(handler).listen(0, '127.0.0.1');",
    'export default handler;',
    '',
  ].join('\n'),
  // A supervisor's stop that lands as the import ends: the signal is caught while the loading watch
  // has it and runs once the import has settled.
  'term-at-import-end.mjs': ["process.kill(process.pid, 'SIGTERM');", "export default (req, res) => res.end('ok');", ''].join('\n'),
});

describe('an app whose import does not finish (single mode)', () => {
  // The still-loading warning every 10 s is test/unit/app-loading.test.ts's, on a fake clock:
  // waiting for it here cost this file 10 s.
  it('says it is loading, and on SIGTERM exits with a line naming it', async () => {
    const s = run(['-b', 'tcp://127.0.0.1:0', 'tla-app.ts'], {}, root);
    await fromLog(s, (l) => (l.msg === '* Loading the app tla-app.ts ...' ? true : undefined), 'the loading line');
    const msgs = s.lines().map((l) => String(l.msg));
    expect(msgs.slice(0, 2)).toEqual([expect.stringMatching(/^tspuma \S+ starting in single mode\.\.\.$/), expect.stringMatching(/^\* Node version: /)]);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.lines().at(-1)?.msg).toMatch(/^Received SIGTERM while the app tla-app\.ts was loading \(for \d+ s; its import had not finished\): exiting before serving$/);
  });
});

describe('a stop signal as the app\'s import ends (single mode; findings lead.1)', () => {
  it('stops the server with exit 0 and a line naming SIGTERM: the signal is neither lost between the loading watch and the graceful stop nor node\'s default', async () => {
    const s = run(['-b', 'tcp://127.0.0.1:0', 'term-at-import-end.mjs'], {}, root);
    let code: number | null = null;
    void s.exited.then((c) => (code = c));
    await waitFor(() => code !== null, 'tspuma to exit on the SIGTERM its app sent as its import ended', 15_000).catch((err: Error) => {
      throw new Error(`${err.message}; its lines: ${JSON.stringify(s.lines().map((l) => l.msg))}`);
    });
    expect(code).toBe(0);
    expect(s.lines().map((l) => String(l.msg))).toContainEqual(expect.stringMatching(/^Received SIGTERM/));
  });
});

describe('an app that listens by itself while it loads (Q16)', () => {
  it('is served on tspuma\'s binds, with a TSPUMA_ERR_APP_LISTEN warning naming where its own server listens', async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', 'self-listen-app.ts'], {}, root);
    const warn = s.lines().find((l) => l.code === 'TSPUMA_ERR_APP_LISTEN');
    expect(warn?.level).toBe(40);
    expect(warn?.msg).toBe(`TSPUMA_ERR_APP_LISTEN: The app ${root}/self-listen-app.ts started a server of its own while loading (listen() on 127.0.0.1:0): that server answers outside tspuma (no request log, timeouts, limits or graceful stop; in cluster mode each worker shares it). tspuma serves the exported app on its binds (-b, PORT); remove the listen() call, or start it only when the module is run directly.`);
    expect(await (await fetch(s.url)).text()).toBe('hi');
  });
});

describe('a .ts app with a syntax error (N8)', () => {
  const dir = appFolder('syntax-error', { 'app.ts': ['const port = 1;', 'const app = express(;', 'export default app;', ''].join('\n') });
  it('under -d, the [boot] dump names the app line as the culprit with a caret, folds tspuma\'s loader frames, and keeps the headline one line', async () => {
    const s = run(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'app.ts'], {}, dir);
    expect(await s.exited).toBe(1);
    const err = s.stderr();
    expect(err).toContain(`tspuma dump #1 [boot] TspumaError: Loading app ${dir}/app.ts failed: SyntaxError: Unexpected ";" (at app.ts:2:21) (TSPUMA_ERR_APP_LOAD)\n`);
    expect(err).toMatch(/^ {2}> #0 \(compiling the module\) {2}app\.ts:2:21$/m);
    const lines = err.split('\n');
    const src = lines.findIndex((l) => l === '        2 | const app = express(;');
    expect(src, err).toBeGreaterThan(0);
    expect(lines[src + 1]).toBe(`          | ${' '.repeat(20)}^`);
    // tspuma's own loader frames are not shown with their values, nor as the culprit.
    expect(err).not.toMatch(/^ {2}[> ] #\d+ importUserModule/m);
    expect(err).not.toContain('\\n');
    expect(err).toContain(`tspuma: TSPUMA_ERR_APP_LOAD: Loading app ${dir}/app.ts failed: SyntaxError: Unexpected ";" (at app.ts:2:21)\n`);
  });
});
