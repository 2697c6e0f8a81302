// Integration: errors that travel. A retry helper's error keeps its cause's own fields (redacted
// like locals) and the values of the cause's first throw at its site; a Promise.any's members each
// with message, site and values; a worker_threads error is shown where it was made.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/travel-app.ts';

function dumpFor(dir: string, text: string): Promise<Dump> {
  return waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`);
}
const textOf = (dir: string, id: number) => readdirSync(dir).filter((n) => n.endsWith('.txt')).map((n) => readFileSync(join(dir, n), 'utf8')).find((t) => t.startsWith(`tspuma dump #${id} `))!;

afterAll(killAll);

describe('errors that travel', () => {
  let s: Booted;
  const dir = tempDir('travel');
  beforeAll(async () => {
    s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
  });

  it("shows a wrapped error's cause with its own fields, redacted like locals, and the values of its throw", async () => {
    expect((await fetch(`${s.url}/pay?amount=10.5`)).status).toBe(500);
    const d = await dumpFor(dir, 'gave up after 4 attempts');
    const cause = d.error.causes[0]!;
    expect(cause).toMatchObject({ name: 'AcquirerError', message: 'acquirer refused 10.5', site: `${APP}:${lineOf(APP, 'throw new AcquirerError')}`, captured: true, fields: { reason: 'amount_precision', status: 422, apiKey: '[redacted]' } });
    // The frames are the cause's throw, in the app, with the value that explains it.
    expect(d.frames[d.culprit]).toMatchObject({ function: 'authorize', line: lineOf(APP, 'throw new AcquirerError'), locals: { amountCents: 10.5, precision: 'fractional' } });
    const text = textOf(dir, d.id);
    expect(text).toContain('        fields: reason="amount_precision"  status=422  apiKey="[redacted]"');
    for (const out of [JSON.stringify(d), text, s.stderr(), s.stdout()]) expect(out).not.toContain('ACQ-KEY-4a1b2c3d');
  });

  it("lists each member of a Promise.any's AggregateError with its message, site and values", async () => {
    expect((await fetch(`${s.url}/any`)).status).toBe(500);
    const d = await dumpFor(dir, 'All promises were rejected');
    const line = lineOf(APP, 'throw new Error(`mirror');
    expect(d.members!.map((m) => [m.error.message, m.site, m.captured])).toEqual([
      ['mirror alpha has no copy in eu-west', `${APP}:${line}`, true],
      // Its throw repeated the site within the window: counted, not captured again.
      ['mirror beta has no copy in eu-west', `${APP}:${line}`, false],
    ]);
    expect(d.members![0]!.frames[d.members![0]!.culprit]!.locals).toMatchObject({ name: 'alpha', region: 'eu-west' });
    expect(textOf(dir, d.id)).toContain('  member 1: Error: mirror beta has no copy in eu-west at fromMirror');
  });

  it('takes the worker_threads frame where an error was made as the culprit, the receiving frame as context', async () => {
    expect((await fetch(`${s.url}/resize?w=5000`)).status).toBe(500);
    const d = await dumpFor(dir, 'width 5000 exceeds 4096');
    const WORKER = 'test/fixtures/apps/resize-worker.mjs';
    expect(d.frames[d.culprit]).toMatchObject({ function: 'resize', file: WORKER, line: lineOf(WORKER, 'throw new RangeError') });
    expect(d.site).toBe(`${WORKER}:${lineOf(WORKER, 'throw new RangeError')}`);
    expect(d.note).toMatch(/^made in another thread \(a worker_threads worker\)/);
  });

  it("takes the worker's frame as culprit for an error a worker_threads worker sent back through a MessagePort (the app rejects with it), with the receiving frame's values as context", async () => {
    expect((await fetch(`${s.url}/thumbnail?w=3000`)).status).toBe(500);
    const d = await dumpFor(dir, 'thumbnail width 3000 exceeds 2048');
    const WORKER = 'test/fixtures/apps/rpc-worker.mjs';
    const made = lineOf(WORKER, 'throw new RangeError');
    expect(d.captured).toBe(true);
    expect(d.frames[d.culprit]).toMatchObject({ function: 'thumbnail', file: WORKER, line: made });
    expect(d.site).toBe(`${WORKER}:${made}`);
    const received = d.frames.findIndex((f) => f.file === APP);
    expect(received).toBeGreaterThan(d.culprit);
    expect(d.frames[received]).toMatchObject({ line: lineOf(APP, 'call.reject(reply.error)'), locals: { reply: { summary: 'Object {id: 1, error: RangeError: thumbnail width 3000 exceeds 2048}' } } });
    expect(d.note).toBe(`made in another thread (a worker_threads worker) and received here: frames #0-#${received - 1} are the worker's, from the error's stack, where it was made (values are not obtainable across threads: dump the worker's own failures with -d in it); frame #${received} (anonymous) (${APP}:${lineOf(APP, 'call.reject(reply.error)')}) received it, with its values`);
  });

  it('says a stack overflow was thrown (V8 does not pause at one), with the recursing app frame as culprit', async () => {
    expect((await fetch(`${s.url}/deep`)).status).toBe(500);
    const d = await dumpFor(dir, 'Maximum call stack size exceeded');
    expect(d.captured).toBe(false);
    expect(d.frames[d.culprit]).toMatchObject({ function: 'depth', file: APP, line: lineOf(APP, 'return depth(n + 1) + 1;') });
    expect(d.note).toBe('a stack overflow: V8 does not pause at one, so no values were captured; the frames are the deepest of its stack, from its text, where the recursion repeats');
  });
});
