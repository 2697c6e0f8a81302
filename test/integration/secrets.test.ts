// Integration: files that hold secrets are 0600 (0700 folders), secret query-string values are
// redacted in every output (request log, error log, dumps, the 500 page) while the app sees them,
// and one dump folder keeps one bound for a whole cluster.
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { allBooted, boot, killAll, run, type Booted } from '../helpers/cli.js';
import { acceptsOn, get, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const LOCAL = 'tcp://127.0.0.1:0';
const DEBUG_APP = 'test/fixtures/debug-app.ts';
const SECRETS_APP = 'test/fixtures/secrets-app.ts';
const QUERY = '?token=abc123&page=2&api_key=xyz789';
const SHOWN = '?token=[redacted]&page=2&api_key=[redacted]';
const SECRETS = ['abc123', 'xyz789'];

const mode = (path: string) => statSync(path).mode & 0o777;
const jsonIn = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
/** The name of the .json dump in `dir` of the request whose URL starts with `url` (once written). */
const dumpOf = (dir: string, url: string) => waitFor(() => jsonIn(dir).find((n) => (JSON.parse(readFileSync(join(dir, n), 'utf8')) as Dump).request?.url?.startsWith(url)), `the dump of ${url}`);

/**
 * Servers shared by cases whose dumps are at sites of their own, each found by its request's URL
 * (a repeat of a site is not dumped again): booted when a case first asks.
 *
 * debugApp: -d on DEBUG_APP, its dump folder one it creates with its parent (the first case reads
 * its /async dump, the redaction case its /sync dump).
 * rackCluster: -d -w 1 on SECRETS_APP, its dump folder an existing 0755 one at its bound with 100
 * dumps of an earlier run (the first case's /refund dump and the Rack redaction case's /charge
 * dump are more: the folder is at its bound again when the crash case's worker dies), and a control
 * app whose state file (-S) was an existing 0644 file before the boot (the state file case: a -w 1
 * boot of its own cost a primary and a worker more). A server of its own for the created folder
 * cost the first case a -d .ts boot more.
 */
let debugApp: Promise<{ s: Booted; root: string; dir: string }> | undefined;
const sharedDebugApp = () =>
  (debugApp ??= (async () => {
    const root = tempDir('modes');
    const dir = join(root, 'new', 'dumps');
    return { s: await boot(['-d', '--inspect=off', '-b', LOCAL, DEBUG_APP], { TSPUMA_DUMP_DIR: dir }), root, dir };
  })());
const STATE_TOKEN = 'state-file-token-5b0c1e2d';
let rackCluster: Promise<{ s: Booted; dir: string; state: string }> | undefined;
const sharedRackCluster = () =>
  (rackCluster ??= (async () => {
    const state = join(tempDir('state'), 'state.json');
    writeFileSync(state, '{"old": true}\n', { mode: 0o644 });
    chmodSync(state, 0o644);
    const dir = tempDir('crash');
    chmodSync(dir, 0o755);
    // 100 dumps of an earlier run, older than anything this run writes.
    for (let i = 0; i < 100; i++) {
      const base = join(dir, `2020-01-01T00-00-${String(Math.floor(i / 10)).padStart(2, '0')}-${String(i % 10).padStart(3, '0')}Z-1-${String(i + 1).padStart(4, '0')}`);
      writeFileSync(`${base}.json`, '{}\n');
      writeFileSync(`${base}.txt`, 'old\n');
    }
    return { s: await boot(['-d', '--inspect=off', '-w', '1', '-S', state, '--control-url', LOCAL, '--control-token', STATE_TOKEN, '-b', LOCAL, SECRETS_APP], { TSPUMA_DUMP_DIR: dir }), dir, state };
  })());

/** One GET on a fresh connection (so the kernel may pick another worker each time). */
describe('files holding secrets', () => {
  // (dump-dir-boot.test's folders that cannot be used; a folder that can be created is this one.)
  it('writes dump files 0600 in a dump folder it creates 0700 (parents too), saying nothing of it at boot, and leaves an existing folder as it was', async () => {
    const { s, root, dir: created } = await sharedDebugApp();
    expect((await get(`${s.url}/async`)).status).toBe(500);
    const name = await dumpOf(created, '/async');
    await waitFor(() => s.stderr().includes(`written to ${created}/`), 'the dump said written to the folder');
    expect(s.stderr()).not.toContain('TSPUMA_ERR_DUMP_DIR');
    expect(mode(join(root, 'new'))).toBe(0o700);
    expect(mode(created)).toBe(0o700);
    expect(mode(join(created, name))).toBe(0o600);
    expect(mode(join(created, name.replace(/\.json$/, '.txt')))).toBe(0o600);

    const { s: t, dir: existing } = await sharedRackCluster();
    expect((await get(`${t.url}/refund`)).status).toBe(500);
    const other = await dumpOf(existing, '/refund');
    expect(mode(existing)).toBe(0o755);
    expect(mode(join(existing, other))).toBe(0o600);
  });

  it('rewrites an existing 0644 state file 0600 before the control token goes in', async () => {
    const { state } = await sharedRackCluster();
    const written = await waitFor(() => (readFileSync(state, 'utf8').includes('control_auth_token') ? readFileSync(state, 'utf8') : null), 'the state file');
    expect(JSON.parse(written).control_auth_token).toBe(STATE_TOKEN);
    expect(mode(state)).toBe(0o600);
  });

  // A heap snapshot written 0600 over an existing 0644 file is heap-snapshot.test's single-mode
  // case (its --out file is one): a server and a snapshot of their own here cost about 1 s of CPU.
});

describe('secret query-string values', () => {
  it('are redacted in a --log-requests line (url field and message) while the app sees the real URL', async () => {
    const s = await boot(['--log-requests', '-b', LOCAL, 'examples/fetch.ts']);
    const res = await get(`${s.url}/echo${QUERY}`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('abc123'); // the app got the real URL
    const line = await waitFor(() => s.lines().find((l) => (l.request as { url?: string } | undefined)?.url?.startsWith('/echo')), 'the request line');
    const request = line.request as { url: string; ms: number; bytes: number; id: string };
    expect(request.url).toBe(`/echo${SHOWN}`);
    expect(line.msg).toBe(`GET /echo${SHOWN} 200 ${request.ms}ms ${request.bytes}B 127.0.0.1 ${request.id}`);
    for (const secret of SECRETS) expect(s.stdout()).not.toContain(secret);
  });

  it('are redacted in the error log line with -q (url field and message)', async () => {
    const dir = tempDir('quiet');
    const sock = join(dir, 'web.sock');
    const s = run(['-q', '-b', `unix://${sock}`, DEBUG_APP]);
    await acceptsOn(sock, 'the unix socket');
    expect((await get(`http://localhost/sync${QUERY}`, sock)).status).toBe(500);
    const line = await waitFor(() => s.lines().find((l) => l.level === 50), 'the error line');
    expect(line.url).toBe(`/sync${SHOWN}`);
    expect(line.msg).toBe(`GET /sync${SHOWN} failed: user 42 not found after 3 attempts (7)`);
    for (const secret of SECRETS) expect(s.stdout()).not.toContain(secret);
  });

  it('are redacted in the dump files, on stderr and in the development 500 page', async () => {
    const { s, dir } = await sharedDebugApp();
    const res = await get(`${s.url}/sync${QUERY}`);
    expect(res.status).toBe(500);
    expect(res.body).toContain(`request: GET /sync${SHOWN}`);
    const name = await dumpOf(dir, '/sync');
    const json = readFileSync(join(dir, name), 'utf8');
    const dump = JSON.parse(json) as Dump;
    expect(dump.request!.url).toBe(`/sync${SHOWN}`);
    expect(dump.redactions).toEqual(expect.arrayContaining(['query token (request url)', 'query api_key (request url)']));
    // node:http's parser frame holds the raw URL as a local: redacted there too.
    const parser = dump.frames.find((f) => f.function.endsWith('parserOnHeadersComplete'));
    expect(parser?.locals.url).toBe(`/sync${SHOWN}`);
    const text = readFileSync(join(dir, name.replace(/\.json$/, '.txt')), 'utf8');
    expect(text).toContain(`request: GET /sync${SHOWN}`);
    for (const secret of SECRETS) {
      expect(res.body).not.toContain(secret);
      expect(json).not.toContain(secret);
      expect(text).not.toContain(secret);
      expect(s.stderr()).not.toContain(secret);
    }
  });

  it('are redacted in a Rack app dump: QUERY_STRING and REQUEST_URI held as locals', async () => {
    const { s, dir } = await sharedRackCluster();
    expect((await get(`${s.url}/charge${QUERY}`)).status).toBe(500);
    const name = await dumpOf(dir, '/charge');
    const dump = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Dump;
    const culprit = dump.frames[dump.culprit]!;
    expect(culprit.function).toBe('charge');
    expect(culprit.locals).toMatchObject({ query: SHOWN.slice(1), uri: `/charge${SHOWN}` });
    for (const secret of SECRETS) expect(JSON.stringify(dump)).not.toContain(secret);
  });
});

describe('one dump budget per server', () => {
  it('-w 2: more distinct failing sites than the budget leave exactly the budget (100 dumps), and a site failing in both workers one dump', async () => {
    const dir = tempDir('budget');
    const dumps = join(dir, 'dumps');
    // One site more than the budget: 101 dumps written, the oldest (site 0's) pruned (each dump is
    // a capture and two files in a -d worker: 120 sites wrote 19 more for the same promise).
    const SITES = 101;
    // One throw site per line: site N throws on line N + 2.
    const lines = ['export default function app(request) {', '  const n = Number(new URL(request.url).searchParams.get("site"));'];
    for (let i = 0; i < SITES; i++) lines.push(`  if (n === ${i}) throw new Error("site ${i}");`);
    lines.push('  return new Response("ok\\n");', '}', '');
    writeFileSync(join(dir, 'sites.mjs'), lines.join('\n'));
    writeFileSync(join(dir, 'tspuma.config.mjs'), 'export default { dumpFrames: 1 };\n');
    const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-d', '--inspect=off', '-w', '2', '-b', LOCAL, join(dir, 'sites.mjs')], { TSPUMA_DUMP_DIR: dumps });
    await allBooted(s); // both workers must be there to fail at site 0

    // One site until both workers have failed there (bounded in count and time).
    const workers = new Set<string>();
    const deadline = Date.now() + 20_000;
    for (let i = 0; i < 200 && workers.size < 2 && Date.now() < deadline; i++) {
      const res = await get(`${s.url}/?site=0`);
      expect(res.status).toBe(500);
      const w = /pid \d+, worker (\d+),/.exec(res.body)?.[1];
      if (w) workers.add(w);
    }
    expect([...workers].sort()).toEqual(['0', '1']);
    expect(jsonIn(dumps)).toHaveLength(1);

    for (let i = 1; i < SITES; i++) expect((await get(`${s.url}/?site=${i}`)).status).toBe(500);
    expect(jsonIn(dumps)).toHaveLength(100);
    expect(readdirSync(dumps).filter((n) => n.endsWith('.txt'))).toHaveLength(100);
    // The newest were kept: the last site's dump is there, site 0's (the oldest) is gone.
    const messages = jsonIn(dumps).map((n) => (JSON.parse(readFileSync(join(dumps, n), 'utf8')) as Dump).error.message);
    expect(messages).toContain(`site ${SITES - 1}`);
    expect(messages).not.toContain('site 0');
  });

  it('keeps the dump of a worker dying of an uncaught exception when the folder is at its bound (the oldest goes)', async () => {
    const { s, dir: dumps } = await sharedRackCluster();
    expect(jsonIn(dumps)).toHaveLength(100); // (with the first case's and the Rack case's dumps, when they ran first)
    expect((await get(`${s.url}/crash`)).status).toBe(200);
    await waitFor(() => /Worker 0 \(PID: \d+\) died \(exit 1\); respawning/.test(s.stdout()), 'the respawn line', 15_000);
    const names = jsonIn(dumps);
    expect(names).toHaveLength(100);
    expect(names[0]).not.toMatch(/^2020-01-01T00-00-00-000Z/); // the oldest was removed
    const crash = JSON.parse(readFileSync(join(dumps, names[names.length - 1]!), 'utf8')) as Dump;
    expect(crash).toMatchObject({ phase: 'app', worker: 0, error: { message: 'worker crash outside a request' } });
  });
});
