// Integration: a 500 response carries error details (the message, the stack and, with -d, the
// dump) only in the environments named `development` and `test`, as Puma leaks a stack only there:
// `prod` gets the generic body (the other names, and NODE_ENV, are test/unit/exposure.test.ts's).
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterAll(killAll);

const DEBUG_APP = 'test/fixtures/debug-app.ts';

/**
 * The two development cases without -d read one server's answers to GET /sync: the page's stack
 * and the failure's log line are two outputs of each such request (a server each cost a `.ts` boot
 * more). Booted when the first of them asks.
 */
let development: Promise<Booted> | undefined;
const developmentServer = () => (development ??= boot(['--inspect=off', '-b', 'tcp://127.0.0.1:0', DEBUG_APP]));

describe('error details in responses', () => {
  // One name of each kind through the CLI: -e Production, NODE_ENV=staging and the other names
  // are test/unit/exposure.test.ts's (showsErrorDetails, and the environment as -e and NODE_ENV
  // give it), where they cost no -d boot each.
  it('-e prod with -d: the 500 body is the generic one with the request id, no message, stack or dump; the operator still gets the dump on stderr', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', '-e', 'prod', DEBUG_APP]);
    const r = await fetch(`${s.url}/sync`, { headers: { 'x-request-id': 'prod-1' } });
    expect(r.status).toBe(500);
    // The request id (to quote to an operator), and nothing of the failure.
    expect(await r.text()).toBe('500 Internal Server Error\nrequest id: prod-1\n');
    // The dump is written all the same, to stderr (which may reach this process after the response).
    await waitFor(() => s.stderr().includes('tspuma dump #1 [app]'), 'the dump on stderr');
  });

  it('-e test with -d: the development page (message and dump), as in development', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', '-e', 'test', DEBUG_APP]);
    const body = await (await fetch(`${s.url}/sync`)).text();
    expect(body).toContain('tspuma caught this error: user 42 not found after 3 attempts (7) (Error)');
    expect(body).toContain('tspuma dump #1 [app] Error: user 42 not found');
  });

  it("development without -d: the page's stack names tspuma's frames by their .ts lines and names as written, as a dump does, not the built chunk's (session 17 saw `dist/server/serving.chunk.js:1378`)", async () => {
    const s = await developmentServer();
    const body = await (await fetch(`${s.url}/sync`)).text();
    expect(body).toMatch(/^tspuma caught this error: user 42 not found after 3 attempts \(7\) \(Error\)\n    at loadUser \(test\/fixtures\/debug-app\.ts:5:9\)\n/);
    expect(body).toMatch(/^    at RequestLifecycle\.invoke \(server\/request-lifecycle\.ts:\d+:\d+\)$/m);
    expect(body).not.toMatch(/\.js:\d+:\d+\)?$/m);
  });

  it("development without -d: the failure's log line names tspuma's frames in its err.stack as the page does, not the built chunk's (review13.5 saw `serving.chunk.js:1416:68`)", async () => {
    const s = await developmentServer();
    expect((await fetch(`${s.url}/sync`)).status).toBe(500);
    const line = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith('GET /sync failed: ')), 'the failure line');
    const stack = String((line.err as { stack?: unknown }).stack);
    expect(stack).toMatch(/^Error: user 42 not found after 3 attempts \(7\)\n    at loadUser \(\S*test\/fixtures\/debug-app\.ts:5:9\)\n/);
    expect(stack).toMatch(/^    at RequestLifecycle\.invoke \(server\/request-lifecycle\.ts:\d+:\d+\)$/m);
    expect(stack).not.toMatch(/\.chunk\.js:\d+:\d+\)?$/m);
  });
});
