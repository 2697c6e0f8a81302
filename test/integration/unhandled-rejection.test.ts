// A promise nobody awaits rejects (a fire-and-forget job): logged, dumped with -d, and the process
// keeps serving, in a cluster's worker as in single mode (DEBUGGING.md, "Uncaught exceptions").
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterAll(killAll);

const APP = 'test/fixtures/apps/forgotten-promise-app.ts';

describe('an unhandled promise rejection', () => {
  for (const [mode, args] of [['single mode', []], ['-w 1', ['-w', '1']]] as const) {
    it(`${mode}: is logged with its message and the same process answers the next request; nothing stops`, async () => {
      const s = await boot([...args, '-b', 'tcp://127.0.0.1:0', APP]);
      const pid = Number(await (await fetch(`${s.url}/pid`)).text());
      expect((await fetch(`${s.url}/signup?email=ann@example.test`, { method: 'POST' })).status).toBe(201);
      const line = await waitFor(() => s.lines().find((l) => String(l.msg).includes('mail relay refused')), 'the rejection logged', 15_000);
      expect(line.msg).toMatch(/Unhandled promise rejection \(the server keeps serving\): mail relay refused ann@example\.test$/);
      expect(Number(await (await fetch(`${s.url}/pid`)).text())).toBe(pid);
      expect(s.lines().filter((l) => /uncaught exception|died|stopping/i.test(String(l.msg)))).toEqual([]);
      expect(s.proc.exitCode).toBeNull();
    });
  }
});
