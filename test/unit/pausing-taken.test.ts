// Debug mode's pause-on-exceptions state is one per isolate: another session's
// `Debugger.setPauseOnExceptions({state: 'none'})` (a DevTools client on the process's own port)
// stops capture's pauses. The failure thrown meanwhile says why it has no values, and capture
// takes its state back, so the next failure has its values. In a file of its own: the second
// session here is the only other one in this process.
import inspector from 'node:inspector';
import { describe, expect, it } from 'vitest';
import { enableDiagnostics } from '../../diagnostics/index.js';

function lookup(catalog: Map<number, string>, id: string): string {
  const item = catalog.get(id as unknown as number);
  if (item === undefined) throw new Error(`no price for ${id}`);
  return item;
}

function debit(balance: number, cents: number): number {
  if (cents > balance) throw new Error(`insufficient funds: ${balance}`);
  return balance - cents;
}

const caught = (f: () => unknown): unknown => {
  try {
    return f();
  } catch (err) {
    return err;
  }
};

describe('a second session that sets pause-on-exceptions to none', () => {
  it("the failure thrown meanwhile is dumped with the note naming that session, and the next failure is captured with its values", () => {
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir: null, env: {} });
    const client = new inspector.Session();
    client.connect();
    try {
      client.post('Debugger.enable');
      client.post('Debugger.setPauseOnExceptions', { state: 'none' });
      const lost = diag.report(caught(() => lookup(new Map([[14, 'socks']]), '14')), { phase: 'app' });
      expect(lost.dump.captured).toBe(false);
      expect(lost.dump.note).toMatch(/another debugger session attached to this process .* had set pause-on-exceptions to none/);
      const next = diag.report(caught(() => debit(1250, 5000)), { phase: 'app' });
      expect(next.dump.captured).toBe(true);
      expect(next.dump.frames[0]!.locals).toMatchObject({ balance: 1250, cents: 5000 });
    } finally {
      client.disconnect();
      diag.close();
    }
  });

  it('a failure with no throw (made and handed on) while pausing works gets no such note', () => {
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir: null, env: {} });
    try {
      const made = diag.report(new Error('handed on without a throw'), { phase: 'app' });
      expect(made.dump.captured).toBe(false);
      expect(made.dump.note).not.toMatch(/another debugger session/);
      expect(diag.capturer.stats.pauses).toBe(0);
    } finally {
      diag.close();
    }
  });
});
