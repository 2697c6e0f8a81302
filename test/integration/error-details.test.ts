// Integration: a 500 response carries error details (the message, the stack and, with -d, the
// dump) only in the environments named `development` and `test`, as Puma leaks a stack only there:
// `prod`, `staging`, `Production` (from -e or NODE_ENV) get the generic body.
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';

afterEach(killAll);

const DEBUG_APP = 'test/fixtures/debug-app.ts';

describe('error details in responses', () => {
  for (const [how, args, env] of [
    ['-e prod', ['-e', 'prod'], {}],
    ['-e Production', ['-e', 'Production'], {}],
    ['NODE_ENV=staging', [], { NODE_ENV: 'staging' }],
  ] as const) {
    it(`${how} with -d: the 500 body is the generic one with the request id, no message, stack or dump`, async () => {
      const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', ...args, DEBUG_APP], env);
      const r = await fetch(`${s.url}/sync`);
      expect(r.status).toBe(500);
      expect(await r.text()).toMatch(/^500 Internal Server Error\nrequest id: \S+\n$/);
    });
  }

  it('-e test with -d: the development page (message and dump), as in development', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', '-e', 'test', DEBUG_APP]);
    const body = await (await fetch(`${s.url}/sync`)).text();
    expect(body).toContain('tspuma caught this error: user 42 not found after 3 attempts (7) (Error)');
    expect(body).toContain('tspuma dump #1 [app] Error: user 42 not found');
  });
});
