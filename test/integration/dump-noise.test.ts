// Integration: signal over noise. A framework's context object (Hono's Context) shows its data
// fields, not its methods; the development 500 page shows the same position as the dump (the
// throw's column); the dump names the client recorded when the request arrived.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `tspuma-${name}-`));
const dumpFor = (dir: string, text: string): Promise<Dump> => waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`);

afterAll(killAll);

describe('signal over noise', () => {
  it("shows Hono's Context by its data fields, its methods only counted", async () => {
    const HONO = 'test/fixtures/apps/hono-app.ts';
    const dir = tmp('noise-hono');
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', HONO], { TSPUMA_DUMP_DIR: dir });
    const res = await fetch(`${s.url}/cart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'A-1', qty: 12 }) });
    expect(res.status).toBe(500);
    const d = await dumpFor(dir, 'qty 12 of A-1 is over the limit');
    expect(d.frames[d.culprit]).toMatchObject({ function: 'priceFor', line: lineOf(HONO, 'throw new RangeError') });
    const handler = d.frames.find((f) => f.locals.c !== undefined)!;
    const context = (handler.locals.c as { summary: string }).summary;
    expect(context).toMatch(/^Context \{/);
    expect(context).toMatch(/\d+ method\(s\)/);
    expect(context).not.toMatch(/: function/);
    expect(handler.locals.item).toEqual({ summary: 'Object {sku: "A-1", qty: 12}' });
  });

  it('gives the 500 page the position the dump gives (the throw, not `new Error`), and names the client', async () => {
    const APP = 'test/fixtures/debug-app.ts';
    const dir = tmp('noise-page');
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
    const res = await fetch(`${s.url}/sync`);
    expect(res.status).toBe(500);
    const page = await res.text();
    const d = await dumpFor(dir, 'user 42 not found');
    const culprit = d.frames[d.culprit]!;
    const line = lineOf(APP, 'throw new Error(`user');
    expect(culprit).toMatchObject({ function: 'loadUser', file: APP, line, column: 3 });
    expect(page).toContain(`    at loadUser (${APP}:${line}:3)`);
    expect(page).not.toContain(`${APP}:${line}:9`);
    expect(d.request!.remote).toBe('127.0.0.1');
  });
});
