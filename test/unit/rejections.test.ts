// A storm of unhandled rejections (a loop of `void send()` failing alike) is logged as one full
// line per kind per interval plus one count, and the full line names the request whose work
// started the promise when -d knows it (S6), on a hand-moved clock with a fake logger and hook.
import { describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import type { DiagnosticsHook } from '../../server/debug-hook.js';
import { FailureFolder } from '../../server/logger.js';
import { rejectionLogger } from '../../server/rejections.js';

function fakeLog(): { log: Logger; lines: { obj: Record<string, unknown>; msg: string }[] } {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = { error: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) } as unknown as Logger;
  return { log, lines };
}

describe('unhandled rejections in the log', () => {
  it('300 rejections of one kind make one full line (saying -d names the request, without -d) and, when the interval ends, one count line', () => {
    const { log, lines } = fakeLog();
    let now = 0;
    const folder = new FailureFolder((sample, folded, seconds) => log.error({ folded, seconds }, `W: ${folded} more like "${sample}" in ${seconds} s`), 10_000, () => now);
    const { handle } = rejectionLogger(log, () => null, 'W: ', folder);
    for (let user = 1; user <= 300; user++) handle(new Error(`sms gateway refused user ${user}: quota exceeded`));
    expect(lines.map((l) => l.msg)).toEqual(['W: Unhandled promise rejection (the server keeps serving): sms gateway refused user 1: quota exceeded (which request started this work is known with -d)']);
    now = 10_001;
    folder.sweep();
    expect(lines.map((l) => l.msg).slice(1)).toEqual(['W: 299 more like "Error: sms gateway refused user 1: quota exceeded" in 10 s']);
    // Another kind is a line of its own at once.
    handle(new TypeError('db is not connected'));
    expect(lines.at(-1)!.msg).toBe('W: Unhandled promise rejection (the server keeps serving): db is not connected (which request started this work is known with -d)');
    folder.close();
  });

  it('says what a rejection with an object that is not an Error is, not "[object Object]" (review9.3)', () => {
    const { log, lines } = fakeLog();
    const { handle, folder } = rejectionLogger(log, () => null, '');
    handle({ status: 503, upstream: 'rates' });
    expect(lines.map((l) => l.msg)).toEqual(['Unhandled promise rejection (the server keeps serving): thrown or rejected with an object that is not an Error (no message, no stack of its own): {status, upstream} (which request started this work is known with -d)']);
    folder.close();
  });

  it('names the request whose work started the promise, from its -d dump (not from a repeat, whose dump is the first request\'s: it names that dump instead)', () => {
    const { log, lines } = fakeLog();
    let repeat = false;
    const hook = {
      report: () => ({ repeat, path: repeat ? '/dumps/0001.json' : null, text: '', dump: { id: 1, site: 'src/notify.ts:12', request: { id: '5579f597-1', method: 'POST', url: '/notify', headers: {} } } }),
    } as unknown as DiagnosticsHook;
    const { handle, folder } = rejectionLogger(log, () => hook, '');
    handle(new Error('sms gateway refused user 1: quota exceeded'));
    expect(lines[0]!.obj.request).toEqual({ id: '5579f597-1', method: 'POST', url: '/notify' });
    expect(lines[0]!.msg).toBe('Unhandled promise rejection (the server keeps serving): sms gateway refused user 1: quota exceeded (work started by POST /notify, request 5579f597-1)');
    repeat = true;
    handle(new RangeError('another kind, same dumped site'));
    expect(lines[1]!.obj.request).toBeUndefined();
    // It names the dump it was counted against (Q9.10).
    expect(lines[1]!.msg).toBe('Unhandled promise rejection (the server keeps serving): another kind, same dumped site (a repeat of dump #1 at src/notify.ts:12, /dumps/0001.json, whose request was POST /notify; this one\'s is not known)');
    folder.close();
  });

  it('reports the rejection to -d as unhandled (its dump says nobody awaited it: review20.12)', () => {
    const { log } = fakeLog();
    const seen: unknown[] = [];
    const hook = { report: (_e: unknown, ctx: unknown) => (seen.push(ctx), { repeat: false, path: null, text: '', dump: { id: 1, site: 's:1', request: null } }) } as unknown as DiagnosticsHook;
    const { handle, folder } = rejectionLogger(log, () => hook, '');
    handle(new Error('x'));
    expect(seen).toEqual([{ phase: 'app', kind: 'rejection', unhandled: true }]);
    folder.close();
  });

  it("names the request of a repeat whose dump was built for it, and a site another worker dumped by its file, not by this worker's unshown dump number (review20.1)", () => {
    const { log, lines } = fakeLog();
    const notify = { id: '5579f597-3', method: 'POST', url: '/notify?id=3', headers: {} };
    let answer: Record<string, unknown> = {};
    const hook = { report: () => answer } as unknown as DiagnosticsHook;
    const { handle, folder } = rejectionLogger(log, () => hook, '');
    // Worker 0 dumped src/notify.ts:12; this worker's first failure there was captured: its own dump, never shown.
    answer = { repeat: true, own: true, elsewhere: true, path: '/dumps/w0-0001.json', text: '', dump: { id: 1, site: 'src/notify.ts:12', request: notify } };
    handle(new Error('sms gateway refused user 3'));
    expect(lines[0]!.obj.request).toEqual({ id: '5579f597-3', method: 'POST', url: '/notify?id=3' });
    expect(lines[0]!.msg).toBe('Unhandled promise rejection (the server keeps serving): sms gateway refused user 3 (work started by POST /notify?id=3, request 5579f597-3; a repeat of the failure at src/notify.ts:12 that another worker dumped: /dumps/w0-0001.json)');
    // Counted against that record later: its request is not this one's.
    answer = { ...answer, own: undefined };
    handle(new TypeError('another kind there'));
    expect(lines[1]!.obj.request).toBeUndefined();
    expect(lines[1]!.msg).toBe("Unhandled promise rejection (the server keeps serving): another kind there (a repeat of the failure at src/notify.ts:12 that another worker dumped: /dumps/w0-0001.json; this one's request is not known)");
    // Without a dump folder the other worker printed it.
    answer = { ...answer, path: null };
    handle(new RangeError('a third kind'));
    expect(lines[2]!.msg).toBe("Unhandled promise rejection (the server keeps serving): a third kind (a repeat of the failure at src/notify.ts:12 that another worker dumped, printed in full once by that worker; this one's request is not known)");
    // A repeat captured anew at a site this process dumped: its own request, and the site's dump by its file.
    answer = { repeat: true, own: true, path: '/dumps/0001.json', text: '', dump: { id: 4, site: 'src/notify.ts:12', request: notify } };
    handle(new SyntaxError('a fourth kind'));
    expect(lines[3]!.msg).toBe('Unhandled promise rejection (the server keeps serving): a fourth kind (work started by POST /notify?id=3, request 5579f597-3; a repeat of the failure at src/notify.ts:12 dumped before: /dumps/0001.json)');
    folder.close();
  });
});
