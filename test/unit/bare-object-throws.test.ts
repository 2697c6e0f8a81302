// A thrown or rejected object that is not an Error and carries no message (`throw { status: 502,
// upstream: 'inventory' }`, as old code and some HTTP clients do) is said to be one: in the dump's
// headline, on the development 500 page (with no stack of tspuma's own frames standing in for the
// value's, which has none) and in the request's log line; never "Error: " with an empty message
// or "[object Object]" (review9.3).
import { afterEach, describe, expect, it } from 'vitest';
import { errorInfo } from '../../diagnostics/dumps.js';
import { fetchHandler } from '../../server/adapters.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const BARE = 'thrown or rejected with an object that is not an Error (no message, no stack of its own): {status, upstream, retryable}';

describe('a thrown object that is not an Error', () => {
  it("is headlined in a dump by its class and keys, with its code, not as 'Error: ' with an empty message", () => {
    expect(errorInfo({ status: 502, upstream: 'inventory', retryable: true })).toMatchObject({ name: 'Object', message: BARE, code: null });
    expect(errorInfo({ code: 'E_DB', attempt: 3 })).toMatchObject({ name: 'Object', code: 'E_DB', message: 'thrown or rejected with an object that is not an Error (no message, no stack of its own): {code, attempt}' });
    class Problem {
      constructor(readonly status: number) {}
    }
    expect(errorInfo(new Problem(409))).toMatchObject({ name: 'Problem', message: 'thrown or rejected with an object that is not an Error (no message, no stack of its own): {status}' });
    // An object with a message of its own says it, as before.
    expect(errorInfo({ name: 'HttpError', message: 'upstream said 502' })).toMatchObject({ name: 'HttpError', message: 'upstream said 502' });
  });

  it("gets a development page and a log line that say what was thrown, with none of tspuma's frames as its stack", async () => {
    const t = await startTest({
      app: fetchHandler(async () => {
        await Promise.resolve();
        throw { status: 502, upstream: 'inventory', retryable: true };
      }),
    });
    const res = await fetch(`${t.url}/stock`);
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page.split('\n')[0]).toBe(`tspuma caught this error: ${BARE} (Object)`);
    expect(page).not.toMatch(/lowlevel|request-lifecycle|\[object Object\]/);
    const line = t.lines.find((l) => l.status === 500);
    expect(line?.msg).toBe(`GET /stock failed: ${BARE}`);
  });
});
