// Integration: a snapshot is as full a dump as a failure's (single mode, an Express app with a
// router mounted at /api): the request as it arrived (not the mount-relative req.url Express
// leaves while inside the router), a Map's and a Set's entries, and the awaiting callers.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, run, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/mounted-repo-app.ts';
const USER_LINE = lineOf(APP, 'const user = this.byId.get(id) ?? null;');
const PRICE_LINE = lineOf(APP, 'const price = discountCode ? 80 : 100 + id;');

afterAll(killAll);

/**
 * The server of the first two cases, booted by whichever runs first: each sets its own snapshot
 * probe (on its own line), which its one hit removes, and reads the file the command names.
 */
let writable: Promise<{ s: Booted; state: string }> | undefined;
const server = () =>
  (writable ??= (async () => {
    const dir = tempDir('snapshot');
    const state = join(dir, 'tspuma.state');
    const s = await boot(['-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP], { TSPUMA_DUMP_DIR: join(dir, 'dumps') });
    return { s, state };
  })());

describe('a snapshot probe in a repository method after an await', () => {
  it('shows the URL as it arrived, the Map and Set entries of the receiver, and the awaiting route handler', async () => {
    const { s, state } = await server();
    const p = run(['probe', 'snapshot', `${APP}:${USER_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set', 15_000);
    expect((await fetch(`${s.url}/api/users/2?page=3`, { headers: { connection: 'close', 'x-request-id': 'snap-mounted-1' } })).status).toBe(200);
    expect(await p.exited, p.stderr()).toBe(0);
    const text = readFileSync(p.stdout().trim(), 'utf8');
    const dump = JSON.parse(text) as Dump;
    expect(dump.request).toMatchObject({ id: 'snap-mounted-1', method: 'GET', url: '/api/users/2?page=3' });
    const top = dump.frames[dump.culprit]!;
    expect(top).toMatchObject({ function: 'UserRepository.findById', line: USER_LINE, locals: { id: 2 } });
    expect(JSON.stringify(top)).toMatch(/Map\(2\) \{1 => .*2 => /);
    expect(JSON.stringify(top)).toContain('Set(2) {\\"vip\\", \\"beta\\"}');
    expect(dump.frames.map((f) => f.function)).toContain('async showUser');
  });

  it('a local holding a value the request\'s query redacts (?code=VIP7, shorter than the values redaction remembers) is redacted in the snapshot too (T8)', async () => {
    const { s, state } = await server();
    const p = run(['probe', 'snapshot', `${APP}:${PRICE_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set', 15_000);
    expect((await fetch(`${s.url}/api/prices/3?code=VIP7`, { headers: { connection: 'close' } })).status).toBe(200);
    expect(await p.exited, p.stderr()).toBe(0);
    const path = p.stdout().trim();
    const dump = JSON.parse(readFileSync(path, 'utf8')) as Dump;
    expect(dump.request).toMatchObject({ url: '/api/prices/3?code=[redacted]' });
    expect(dump.frames[dump.culprit]).toMatchObject({ function: 'UserRepository.priceFor', line: PRICE_LINE, locals: { id: 3, discountCode: '[redacted]' } });
    expect(readFileSync(path, 'utf8')).not.toContain('VIP7');
    expect(readFileSync(path.replace(/\.json$/, '.txt'), 'utf8')).not.toContain('VIP7');
  });

  it('with a dump folder it cannot write, the snapshot is not lost: its text goes to stderr and the waiting command says so (S13)', async () => {
    const dir = tempDir('snapshot-nofolder');
    const state = join(dir, 'tspuma.state');
    // A file where the folder's parent should be: no user (root included) can create the folder.
    writeFileSync(join(dir, 'blocked'), '');
    const s = await boot(['-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP], { TSPUMA_DUMP_DIR: join(dir, 'blocked', 'dumps') });
    const p = run(['probe', 'snapshot', `${APP}:${USER_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set', 15_000);
    expect((await fetch(`${s.url}/api/users/2`, { headers: { connection: 'close', 'x-request-id': 'snap-nofolder-1' } })).status).toBe(200);
    expect(await p.exited, p.stderr()).toBe(0);
    expect(p.stdout()).toBe('');
    expect(p.stderr()).toMatch(/tspuma: a snapshot was taken in worker 0 but not written: the dump folder \S+blocked\/dumps cannot be written \(ENOTDIR\); its text is on the server's stderr/);
    await waitFor(() => /tspuma dump #\d+ \[probe\] Snapshot: probe \d+ at /.test(s.stderr()) || undefined, "the snapshot's text on the server's stderr");
    expect(s.stderr()).toContain('request: GET /api/users/2 (id snap-nofolder-1');
  });
});
