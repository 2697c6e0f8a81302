// Integration: an app that ends the process itself (process.exit() in a licence check while
// serving, in a config check at import) gets a last line from tspuma naming the exit code, the
// app's call site and the requests it cut; with -d, a dump of the call.
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, run } from '../helpers/cli.js';
import { ownedByTest } from '../helpers/processes.js';
import { appFolder } from '../helpers/app-folder.js';
import { waitFor } from '../helpers/net.js';

// Each case runs a server of its own and mostly waits on it: they run side by side ({ concurrent:
// true }), each ending its own (ownedByTest). In turn the file took 4.1 s of a quiet run's wall for 1.7 s of CPU.
afterAll(killAll);

const root = appFolder('app-exit', {
  'exit-app.ts': [
    'function assertLicense(key: string | undefined): void {',
    "  if (!key) { console.log('license missing'); process.exit(3); }",
    '}',
    'export default function app(request: Request): Response {',
    "  if (new URL(request.url).pathname === '/pro') assertLicense(process.env.FIX3_NO_LICENSE);",
    "  return new Response('ok');",
    '}',
    '',
  ].join('\n'),
  'exit-load-app.ts': [
    'function requireEnv(name: string): string {',
    '  const v = process.env[name];',
    '  if (!v) { console.error(`${name} missing`); process.exit(1); }',
    '  return v;',
    '}',
    "const dbUrl = requireEnv('FIX3_DB_URL');",
    'export default (request: Request): Response => new Response(dbUrl);',
    '',
  ].join('\n'),
  'uncaught-app.ts': [
    "process.on('uncaughtException', (err) => { console.error(`[app] fatal: ${err.message}; exiting`); process.exit(1); });",
    "process.on('unhandledRejection', (err) => { console.error(`[app] rejected: ${(err as Error).message}; exiting`); process.exit(2); });",
    'export default async function app(request: Request): Promise<Response> {',
    '  const path = new URL(request.url).pathname;',
    "  if (path === '/later') {",
    "    const jobRef = 'job-31';",
    '    setTimeout(() => { const retries = 2; throw new Error(`background ${jobRef} crashed after ${retries}`); }, 10);',
    '  }',
    "  if (path === '/void') void (async () => { const batch = 7; await null; throw new Error(`batch ${batch} failed`); })();",
    "  return new Response('ok');",
    '}',
    '',
  ].join('\n'),
});

const stopLine = (lines: Record<string, unknown>[]) => lines.find((l) => String(l.msg).includes('Stopped: the app called process.exit'));

describe('the app calls process.exit()', { concurrent: true }, () => {
  it('while serving: the process exits with its code after a fatal line naming the call site and the request it cut', async (ctx) => {
    const mine = ownedByTest(ctx, 'app-exit');
    const s = mine.adopt(await boot(['-b', 'tcp://127.0.0.1:0', 'exit-app.ts'], {}, root));
    await fetch(`${s.url}/pro`).catch(() => null); // the connection is cut: no answer
    expect(await s.exited).toBe(3);
    const line = stopLine(s.lines());
    expect(line?.level).toBe(60);
    expect(line?.msg).toMatch(/^- Stopped: the app called process\.exit\(3\) at exit-app\.ts:2 \(assertLicense\) while serving; requests in flight, cut without an answer: GET \/pro \(\d+ ms\)\. tspuma's graceful stop did not run\.$/);
    expect(line?.exitCode).toBe(3);
  });

  it('while the app loads: the line says so and names the call site', async (ctx) => {
    const mine = ownedByTest(ctx, 'app-exit');
    const s = mine.adopt(run(['-b', 'tcp://127.0.0.1:0', 'exit-load-app.ts'], {}, root));
    expect(await s.exited).toBe(1);
    expect(stopLine(s.lines())?.msg).toBe("- Stopped: the app called process.exit(1) at exit-load-app.ts:3 (requireEnv) while loading the app. tspuma's graceful stop did not run.");
  });

  it('with -d: a dump of the call, its culprit the app line that called process.exit', async (ctx) => {
    const mine = ownedByTest(ctx, 'app-exit');
    const s = mine.adopt(await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'exit-app.ts'], {}, root));
    await fetch(`${s.url}/pro`).catch(() => null);
    expect(await s.exited).toBe(3);
    await waitFor(() => s.stderr().includes('tspuma dump #1 [app] Error: the app called process.exit(3) while serving'), 'the dump');
    expect(s.stderr()).toMatch(/> #0 assertLicense {2}exit-app\.ts:2:\d+/);
    expect(s.stderr()).toMatch(/in flight: GET \/pro for /);
    expect(s.stderr()).toContain('note: nothing was thrown: the app called process.exit()');
  });

  it("the app's own uncaughtException handler exits: tspuma's fatal line and dump come first, then the exit line naming the handler", async (ctx) => {
    const mine = ownedByTest(ctx, 'app-exit');
    const s = mine.adopt(await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'uncaught-app.ts'], {}, root));
    expect(await (await fetch(`${s.url}/later`)).text()).toBe('ok');
    expect(await s.exited).toBe(1);
    const msgs = s.lines().map((l) => String(l.msg));
    const fatal = msgs.indexOf('Uncaught exception, stopping: background job-31 crashed after 2');
    expect(fatal).toBeGreaterThan(-1);
    expect(msgs.findIndex((m) => m.startsWith('- Stopped: the app called process.exit(1) at uncaught-app.ts:1'))).toBeGreaterThan(fatal);
    expect(s.stderr()).toContain('tspuma dump #1 [app] Error: background job-31 crashed after 2');
    expect(s.stderr()).toMatch(/> #0 \(anonymous\) {2}uncaught-app\.ts:7:\d+\n\s+retries=2/);
    expect(s.stderr().indexOf('tspuma dump #1')).toBeLessThan(s.stderr().indexOf('[app] fatal: background job-31'));
  });

  it("the app's own unhandledRejection handler exits: tspuma's rejection dump comes first", async (ctx) => {
    const mine = ownedByTest(ctx, 'app-exit');
    const s = mine.adopt(await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'uncaught-app.ts'], {}, root));
    expect(await (await fetch(`${s.url}/void`)).text()).toBe('ok');
    expect(await s.exited).toBe(2);
    // With -d the line names the request whose work started the promise (S6).
    expect(s.lines().some((l) => /^Unhandled promise rejection \(the server keeps serving\): batch 7 failed \(work started by GET \/void, request \S+\)$/.test(String(l.msg)))).toBe(true);
    expect(s.stderr()).toContain('tspuma dump #1 [app] Error: batch 7 failed');
    expect(s.stderr().indexOf('tspuma dump #1')).toBeLessThan(s.stderr().indexOf('[app] rejected: batch 7 failed'));
  });
});
