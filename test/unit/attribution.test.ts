// Debug mode's call record carried into a request's own stream events (diagnostics/attribution.ts):
// a body parser calls the app's handler from the request's 'end', which no promise or timer
// carries the call into, so the request's emit runs its listeners with the call current. And an
// error logged outside any call taken as that of a call whose response was destroyed before its
// head, just before or after (Express's log of the error a pipeline into res failed with).
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CallRecord } from '../../diagnostics/call-record.js';
import { Attribution } from '../../diagnostics/attribution.js';

/** The call sites of a stack made here, unformatted. */
function callSites(): NodeJS.CallSite[] {
  const prepare = Error.prepareStackTrace;
  Error.prepareStackTrace = (_error, sites) => sites;
  try {
    return new Error('here').stack as unknown as NodeJS.CallSite[];
  } finally {
    Error.prepareStackTrace = prepare;
  }
}

describe('Attribution', () => {
  it("runs a request's own event listeners with its call current, under one frame of debug mode's (the spare frames app-stacks.ts captures are for such frames)", () => {
    const attribution = new Attribution();
    try {
      const req = new IncomingMessage(new Socket());
      attribution.leave(attribution.enter(req, null));
      const record = attribution.of(req);
      let current: unknown;
      let sites: NodeJS.CallSite[] = [];
      req.on('end', () => {
        current = attribution.current();
        sites = callSites();
      });
      req.emit('end');
      expect(record?.req).toBe(req);
      expect(current).toBe(record);
      expect(attribution.current()).toBeUndefined();
      const ours = sites.map((s) => String(s.getFileName() ?? '')).filter((file) => /diagnostics\/(attribution|call-context)\.[jt]s$/.test(file));
      expect(ours).toHaveLength(1);
    } finally {
      attribution.close();
    }
  });

  it("hands a request's event listeners every argument emitted (none to four), with its call current, and returns what emit returns", () => {
    const attribution = new Attribution();
    try {
      const req = new IncomingMessage(new Socket());
      attribution.leave(attribution.enter(req, null));
      const record = attribution.of(req);
      const seen: { args: unknown[]; call: unknown }[] = [];
      req.on('probe', (...args: unknown[]) => seen.push({ args, call: attribution.current() }));
      const returned: boolean[] = [];
      for (let n = 0; n <= 4; n++) returned.push(req.emit('probe', ...Array.from({ length: n }, (_, i) => `a${i}`)));
      expect(seen).toEqual(Array.from({ length: 5 }, (_, n) => ({ args: Array.from({ length: n }, (_, i) => `a${i}`), call: record })));
      expect(returned).toEqual([true, true, true, true, true]);
      expect(req.emit('nobody-listens', 1, 2)).toBe(false);
      expect(attribution.current()).toBeUndefined();
    } finally {
      attribution.close();
    }
  });
});

describe('Attribution: an error logged outside any call, and a call closed without an answer', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** A call entered and left, as the server does; `close()` is what settled() does for a response destroyed before its head. */
  function call(attribution: Attribution): { record: CallRecord; close: () => void } {
    const req = new IncomingMessage(new Socket());
    attribution.leave(attribution.enter(req, new ServerResponse(req)));
    const record = attribution.of(req)!;
    return {
      record,
      close: () => {
        attribution.forget(req);
        attribution.closedWithoutAnswer(record);
      },
    };
  }

  /** Date.now() from here on: `ms` later than now, each time it is read. */
  function clockAhead(ms: number): void {
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + ms);
  }

  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  it('takes the error logged just before the close as the call\'s, however long the process then waited for a CPU with its loop not turned (300 ms: stress31.1)', () => {
    const attribution = new Attribution();
    try {
      const report = call(attribution);
      const err = new Error("ENOENT: no such file or directory, open '/reports/q3.csv'");
      attribution.noteLogged([err]);
      clockAhead(300);
      report.close();
      expect(report.record.logged).toEqual([err]);
    } finally {
      attribution.close();
    }
  });

  it('takes the error logged just after the close as the call\'s, however long the process waited before logging it with its loop not turned (300 ms)', () => {
    const late: CallRecord[] = [];
    const attribution = new Attribution((record) => late.push(record));
    try {
      const report = call(attribution);
      report.close();
      clockAhead(300);
      const err = new Error('the report generator failed');
      attribution.noteLogged([err]);
      expect(report.record.logged).toEqual([err]);
      expect(late).toEqual([report.record]);
    } finally {
      attribution.close();
    }
  });

  it('takes no error logged 300 ms and three turns of the loop before the close (the window still ends)', async () => {
    const attribution = new Attribution();
    try {
      const report = call(attribution);
      attribution.noteLogged([new Error('an error of something else')]);
      await turns(3);
      clockAhead(300);
      report.close();
      expect(report.record.logged).toEqual([]);
    } finally {
      attribution.close();
    }
  });

  it('gives the next error logged outside any call to the call closed next, not to the one closed just before that already holds its own', () => {
    const late: CallRecord[] = [];
    const attribution = new Attribution((record) => late.push(record));
    try {
      const first = call(attribution);
      const second = call(attribution);
      const firstErr = new Error("ENOENT: no such file or directory, open '/reports/q3.csv'");
      attribution.noteLogged([firstErr]);
      first.close();
      const secondErr = new Error("ENOENT: no such file or directory, open '/reports/q4.csv'");
      attribution.noteLogged([secondErr]);
      second.close();
      expect(first.record.logged).toEqual([firstErr]);
      expect(second.record.logged).toEqual([secondErr]);
      expect(late).toEqual([]);
    } finally {
      attribution.close();
    }
  });
});
