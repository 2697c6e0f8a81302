// Integration: faults found by running a corpus of realistic failures as a user would (-d, a dump
// folder, curl): a catch-all that re-throws errors made elsewhere still gives one dump per
// failure; a rejection with null is answered, not left hanging; a plain Node listener's request
// shows the fields that tell which request it is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const LOCAL = 'tcp://127.0.0.1:0';
const RETHROW = 'test/fixtures/apps/rethrow-app.ts';
const LISTENER = 'test/fixtures/apps/listener-app.ts';

function dumpFor(dir: string, text: string): Promise<Dump> {
  return waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`);
}

afterAll(killAll);

describe('an Express error middleware that logs and re-throws', () => {
  let s: Booted;
  const dir = tempDir('rethrow');
  beforeAll(async () => {
    s = await boot(['-d', '--inspect=off', '-b', LOCAL, RETHROW], { TSPUMA_DUMP_DIR: dir });
  });

  it('writes one dump per failure re-thrown at its one line, each grouped where the error was made', async () => {
    for (const path of ['/coupon?coupon=SPRING', '/stock?sku=A-1', '/overflow']) expect((await fetch(`${s.url}${path}`)).status).toBe(500);
    const coupon = await dumpFor(dir, 'coupon SPRING expired');
    const stock = await dumpFor(dir, 'stock of A-1 is negative');
    const overflow = await dumpFor(dir, 'Maximum call stack size exceeded');
    expect(coupon.site).toBe(`${RETHROW}:${lineOf(RETHROW, 'next(new Error(`coupon')}`);
    expect(stock.site).toBe(`${RETHROW}:${lineOf(RETHROW, 'next(new RangeError(`stock')}`);
    expect(overflow.site).toBe(`${RETHROW}:${lineOf(RETHROW, 'return depth(n + 1) + 1;')}`);
    // The culprit is still the app frame of the first throw, with its values.
    expect(stock.frames[stock.culprit]).toMatchObject({ line: lineOf(RETHROW, 'throw err;'), locals: { err: { summary: expect.stringContaining('stock of A-1') } } });
    expect(dumpsIn(dir)).toHaveLength(3);
  });

  it('writes no dump for a malformed JSON body, which Express answers with 400 through the same middleware', async () => {
    const res = await fetch(`${s.url}/items`, { method: 'POST', body: '{"qty": 1,', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    // A later failure's dump is written after anything the 400 could have caused.
    expect((await fetch(`${s.url}/refund?order=9`)).status).toBe(500);
    await dumpFor(dir, 'refund of 9 refused');
    expect(dumpsIn(dir).map((d) => d.error.message).filter((m) => /JSON|position/.test(m))).toEqual([]);
  });
});

describe('a plain Node listener', () => {
  let s: Booted;
  const dir = tempDir('listener');
  beforeAll(async () => {
    s = await boot(['-d', '--inspect=off', '-b', LOCAL, LISTENER], { TSPUMA_DUMP_DIR: dir });
  });

  it('answers a rejection with null with a 500 at once, and dumps it at the app line', async () => {
    const started = Date.now();
    const res = await fetch(`${s.url}/null`, { signal: AbortSignal.timeout(10_000 * SLOWNESS) });
    expect(res.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(5000 * SLOWNESS);
    const d = await waitFor(() => dumpsIn(dir).find((x) => x.request?.url === '/null'), 'the dump of /null');
    expect(d.frames[d.culprit]).toMatchObject({ file: LISTENER, line: lineOf(LISTENER, 'return Promise.reject(null);') });
    // The header says a null came, not "object: null".
    expect(d.error).toMatchObject({ name: 'null', message: 'thrown or rejected with null, which says nothing of what failed: the frames say where' });
    expect(dumpsIn(dir).filter((x) => x.frames.some((f) => f.file.includes('logger'))).length).toBe(0);
  });

  it("shows the request in the culprit's locals by method and url, not its stream internals", async () => {
    expect((await fetch(`${s.url}/header`)).status).toBe(500);
    const d = await dumpFor(dir, "reading 'trim'");
    const req = (d.frames[d.culprit]!.locals.req as { summary: string }).summary;
    expect(req).toContain('method: "GET"');
    expect(req).toContain('url: "/header"');
    expect(req).not.toContain('_readableState');
  });
});
