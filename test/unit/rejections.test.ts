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
});
