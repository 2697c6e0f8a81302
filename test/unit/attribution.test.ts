// Debug mode's call record carried into a request's own stream events (diagnostics/attribution.ts):
// a body parser calls the app's handler from the request's 'end', which no promise or timer
// carries the call into, so the request's emit runs its listeners with the call current.
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
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
