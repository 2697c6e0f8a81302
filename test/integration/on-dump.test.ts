// Integration: a config file's onDump gets each new failure site once, with the dump's text and
// file; when it throws or rejects, the failing requests are answered as without it and the
// failure is logged with TSPUMA_ERR_DUMP_SINK.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const APP_ARGS = ['-d', '--inspect=off', '-e', 'production', '-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/otel/app.ts')];
/**
 * The -d server with no onDump, shared (booted when a case first asks): the first case's 500 page
 * to compare with, the second case's JSON dump record (a case of its own booted one more -d server
 * of the same app for it).
 */
let plainServer: Promise<{ s: Booted; dir: string }> | undefined;
const plain = () =>
  (plainServer ??= (async () => {
    const dir = join(tempDir('ondump-plain'), 'dumps');
    return { s: await boot(APP_ARGS, { TSPUMA_DUMP_DIR: dir }), dir };
  })());

describe('onDump', () => {
  it('is called once per new site; its throw and rejection leave the 500s as they are and are logged', async () => {
    const dir = tempDir('ondump');
    const out = join(dir, 'delivered.txt');
    writeFileSync(out, '');
    // The production 500 page, less its request id (one per request).
    const page = async (res: Response) => (await res.text()).replace(/^request id.*$/m, 'request id');
    const expected = await page(await fetch(`${(await plain()).s.url}/throw`));
    expect(expected).toContain('500 Internal Server Error');
    const s = await boot(['-C', join(ROOT, 'test/fixtures/ondump/tspuma.config.mjs'), ...APP_ARGS], { TSPUMA_DUMP_DIR: join(dir, 'dumps'), ONDUMP_OUT: out });
    for (const path of ['/throw', '/throw', '/reject']) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status).toBe(500);
      if (path === '/throw') expect(await page(res)).toBe(expected);
    }
    const warnings = await waitFor(() => {
      const w = s.lines().filter((l) => l.code === 'TSPUMA_ERR_DUMP_SINK');
      return w.length === 2 ? w : undefined;
    }, 'two TSPUMA_ERR_DUMP_SINK lines');
    expect(warnings.map((w) => String(w.msg))).toEqual([
      expect.stringMatching(/^onDump for dump #\d+ \(Error: order A-17 vanished\) threw Error: tracker refused\./),
      expect.stringMatching(/^onDump for dump #\d+ \(RangeError: rejected after a tick\) rejected with Error: tracker offline\./),
    ]);
    expect(readFileSync(out, 'utf8')).toBe('/throw file text\n/reject file text\n');
    expect((await fetch(`${s.url}/fine`)).status).toBe(200);
  });

  it('with JSON logs (stdout not a terminal), each new dump is also one log record: id, phase, headline, culprit, request, path and its text (S9)', async () => {
    const { s } = await plain();
    for (const path of ['/throw', '/throw']) expect((await fetch(`${s.url}${path}`)).status).toBe(500);
    const record = await waitFor(() => s.lines().find((l) => l.dump !== undefined), 'the dump record in the JSON log');
    const dump = record.dump as { id: number; phase: string; error: string; culprit: string | null; request: { id: string; method: string; url: string } | null; path: string | null };
    expect(record.level).toBe(50);
    expect(dump).toMatchObject({ id: 1, phase: 'app', error: 'Error: order A-17 vanished', request: { method: 'GET', url: '/throw' } });
    expect(dump.culprit).toMatch(/^test\/fixtures\/otel\/app\.ts:\d+$/);
    expect(dump.path).toMatch(/\.json$/);
    expect(String(record.msg)).toMatch(/^tspuma dump #1 \[app\] Error: order A-17 vanished at test\/fixtures\/otel\/app\.ts:\d+ \(request \S+ GET \/throw\)$/);
    expect(String(record.text)).toContain('tspuma dump #1 [app] Error: order A-17 vanished');
    // A repeat of the site is counted, not a second record.
    expect(s.lines().filter((l) => l.dump !== undefined)).toHaveLength(1);
  });
});
