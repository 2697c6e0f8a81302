// Unit: server/app-calls.ts, the per-app-call request record a worker keeps while a probe is set.
// It must cost nothing once the last probe is gone: an AsyncLocalStorage that has run keeps node's
// async hooks (and V8's promise hooks, paid at every promise) on until it is disabled.
import { executionAsyncId } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AppCalls } from '../../server/app-calls.js';

/** The async id a promise reaction runs with: 0 while no async hook is on (node tracks no promise then). */
const reactionId = () => new Promise<number>((resolve) => void Promise.resolve().then(() => resolve(executionAsyncId())));

describe('AppCalls', () => {
  it("while tracking, an app call's awaits carry its request; once tracking stops, no async hook is left on (promises cost what they cost before the first probe)", async () => {
    const before = await reactionId();
    expect(before, 'another async hook is on in this process: the test cannot tell').toBe(0);
    const calls = new AppCalls();
    calls.track(true);
    const req = { url: '/orders/7' } as IncomingMessage;
    const seen = await calls.run(req, async () => {
      await Promise.resolve();
      return calls.current();
    });
    expect(seen).toBe(req);
    expect(await reactionId()).not.toBe(0);
    calls.track(false);
    expect(await reactionId()).toBe(0);
    // A later probe tracks again.
    calls.track(true);
    expect(await calls.run(req, async () => (await Promise.resolve(), calls.current()))).toBe(req);
    calls.track(false);
    expect(await reactionId()).toBe(0);
  });
});
