// A promise nobody awaits rejects (a fire-and-forget job): logged, dumped with -d, and the process
// keeps serving, in a cluster's worker as in single mode (DEBUGGING.md, "Uncaught exceptions").
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterAll(killAll);

const APP = 'test/fixtures/apps/forgotten-promise-app.mjs';

describe('an unhandled promise rejection', () => {
  for (const [mode, args] of [['single mode', []], ['-w 1', ['-w', '1']]] as const) {
    it(`${mode}: is logged with its message (and that -d names its request) and the same process answers the next request; nothing stops`, async () => {
      const s = await boot([...args, '-b', 'tcp://127.0.0.1:0', APP]);
      const pid = Number(await (await fetch(`${s.url}/pid`)).text());
      expect((await fetch(`${s.url}/signup?email=ann@example.test`, { method: 'POST' })).status).toBe(201);
      const line = await waitFor(() => s.lines().find((l) => String(l.msg).includes('mail relay refused')), 'the rejection logged', 15_000);
      expect(line.msg).toMatch(/Unhandled promise rejection \(the server keeps serving\): mail relay refused ann@example\.test \(which request started this work is known with -d\)$/);
      expect(Number(await (await fetch(`${s.url}/pid`)).text())).toBe(pid);
      expect(s.lines().filter((l) => /uncaught exception|died|stopping/i.test(String(l.msg)))).toEqual([]);
      expect(s.proc.exitCode).toBeNull();
    });
  }

  it('with -d, a storm of one kind is one full line naming the request that started the work, not a line each (S6)', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP]);
    for (let i = 1; i <= 20; i++) expect((await fetch(`${s.url}/signup?email=u${i}@example.test`, { method: 'POST' })).status).toBe(201);
    // The 20th request's job has failed once its dump's repeat count is printed, or its line is there.
    await waitFor(() => /has happened 10 times/.test(s.stderr()) || undefined, 'the dump repeat count on stderr', 15_000);
    expect((await fetch(`${s.url}/pid`)).status).toBe(200);
    const full = s.lines().filter((l) => String(l.msg).includes('Unhandled promise rejection'));
    expect(full).toHaveLength(1);
    expect(full[0]!.request).toEqual({ id: expect.any(String), method: 'POST', url: '/signup?email=u1@example.test' });
    expect(full[0]!.msg).toMatch(/: mail relay refused u1@example\.test \(work started by POST \/signup\?email=u1@example\.test, request \S+\)$/);
  });
});
