// Integration: the Express app of DEBUGGING.md's "Reading a dump", run as the doc runs it: both
// failures Express answers with its own 500 get a dump with the culprit, its .ts line, the values
// that explain it, the receiver's fields, node's request shown by its telling fields, and the
// router's frames folded into one line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const APP = 'test/fixtures/apps/express-orders.ts';

describe("DEBUGGING.md's Express example", () => {
  it('dumps the throw after an await and the RateLimiter in the wrong state, with what explains each', async () => {
    const dir = tempDir('reading');
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', join(ROOT, APP)], { TSPUMA_DUMP_DIR: dir });
    expect((await fetch(`${s.url}/orders/7`)).status).toBe(500);
    await waitFor(() => dumpsIn(dir).length === 1, 'the first dump');
    expect((await fetch(`${s.url}/orders/1/upload`, { method: 'POST' })).status).toBe(500);
    const [order, limit] = await waitFor(() => (dumpsIn(dir).length === 2 ? dumpsIn(dir) : null), 'the second dump');

    const findOrder = order!.frames[order!.culprit]!;
    expect(findOrder).toMatchObject({ function: 'findOrder', line: lineOf(APP, 'throw new Error(`order'), locals: { id: 7, row: { summary: 'undefined' } } });
    expect(order!.request).toMatchObject({ method: 'GET', url: '/orders/7' });

    const take = limit!.frames[limit!.culprit]!;
    expect(take).toMatchObject({ function: 'RateLimiter.take', line: lineOf(APP, 'throw new Error(`rate limit'), locals: { cost: 1 } });
    expect(take.receiverFields).toEqual({ tokens: 0, capacity: 5, name: 'uploads' });

    const text = readFileSync(join(dir, readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()[1]!), 'utf8');
    expect(text).toContain('        this: tokens=0  capacity=5  name="uploads"');
    expect(text).toMatch(/_req=IncomingMessage \{method: "POST", originalUrl: "\/orders\/1\/upload", url: "\/1\/upload", complete: false\}/);
    expect(text).toMatch(/\n {4}#2-#\d+ \d+ frames in router, express, tspuma, node: Layer\.handleRequest /);
    expect(text).not.toContain('_readableState');
  });
});
