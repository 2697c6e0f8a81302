// In-process: the query-string rule shares the header rule (one predicate), private files are
// 0600 whatever was there, and the dump folder's shared bound and site claims.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLAIMS_DIR, claimSite, clearStaleClaims, trimFolder } from '../../diagnostics/dump-budget.js';
import { Redactor, urlRedactor } from '../../diagnostics/redact.js';
import { writePrivateFile } from '../../server/private-file.js';
import { tempDir } from '../helpers/temp.js';

const tmp = () => tempDir('secrets');

describe('query-string redaction', () => {
  const r = new Redactor();

  it('replaces the values of secret-named parameters and lists each, leaving the others', () => {
    const applied: string[] = [];
    expect(r.query('/pay?token=abc&page=2&api_key=xyz', applied, 'request url')).toBe('/pay?token=[redacted]&page=2&api_key=[redacted]');
    expect(applied).toEqual(['query token (request url)', 'query api_key (request url)']);
  });

  it('uses the header rule: a header name (cookie, authorization) is secret as a parameter too', () => {
    expect(r.query('/x?cookie=sid1&authorization=a2&q=ok')).toBe('/x?cookie=[redacted]&authorization=[redacted]&q=ok');
  });

  it('decodes names and catches credential-shaped values whatever they are called', () => {
    expect(r.query('/x?api%5Fkey=k1&auth=Bearer%20t0k&user_password=p+w')).toBe('/x?api%5Fkey=[redacted]&auth=[redacted]&user_password=[redacted]');
  });

  it('redacts a bare query string, a URL inside a message, and stops at a fragment or quote', () => {
    expect(r.query('token=abc&page=2')).toBe('token=[redacted]&page=2');
    expect(r.query('GET /a?secret=s3 failed: "x"')).toBe('GET /a?secret=[redacted] failed: "x"');
    expect(r.query('/a?token=t#frag')).toBe('/a?token=[redacted]#frag');
  });

  it('leaves text without a secret parameter as it is, and redacted text unchanged', () => {
    const plain = '/search?q=tokens are fun&page=2';
    expect(r.query(plain)).toBe(plain);
    expect(r.query('/a?token=[redacted]')).toBe('/a?token=[redacted]');
    expect(r.query('/no/query')).toBe('/no/query');
  });

  it('adds the configured extra names (the redact option), for logs too', () => {
    expect(new Redactor('session').query('/a?session_id=s1&page=2')).toBe('/a?session_id=[redacted]&page=2');
    const shown = urlRedactor('session');
    expect(shown('/a?session_id=s1&token=t&page=2')).toBe('/a?session_id=[redacted]&token=[redacted]&page=2');
    expect(shown(undefined)).toBe('');
  });

  it("redacts a query value that is a percent-encoded URL with a password in its userinfo, whatever the parameter's name (review19.7)", () => {
    const applied: string[] = [];
    expect(r.query('/hooks?url=https%3A%2F%2Fbot%3Apw99zzQQ%40hooks.example%2Fin&page=2', applied, 'request url')).toBe('/hooks?url=[redacted]&page=2');
    expect(applied).toEqual(['query url (request url)']);
    // A URL without a password, and an address with an @, stay.
    expect(r.query('/hooks?url=https%3A%2F%2Fhooks.example%2Fin&to=a%40b.example')).toBe('/hooks?url=https%3A%2F%2Fhooks.example%2Fin&to=a%40b.example');
    expect(r.query('/hooks?url=https%3A%2F%2Fbot%40hooks.example%2Fin')).toBe('/hooks?url=https%3A%2F%2Fbot%40hooks.example%2Fin');
  });

  it("redacts the piece of a body V8 quotes in a JSON parse error when it is cut, since its names are cut too (review19.9)", () => {
    // Hono's c.req.json() on `{"user":"bob","password": hunter2zz9}`: the name lost its `p`.
    const applied: string[] = [];
    expect(r.query(`SyntaxError: Unexpected token 'h', ..."assword": hunter2zz9"... is not valid JSON`, applied)).toBe(`SyntaxError: Unexpected token 'h', ..."[redacted]"... is not valid JSON`);
    expect(applied).toEqual(['cut JSON text of a parse error']);
    expect(r.query(`Unexpected token 's', "{"k": sk_live_ab"... is not valid JSON`)).toBe(`Unexpected token 's', "[redacted]"... is not valid JSON`);
    expect(r.query(`Unexpected token '"', ..."ssword": "x" "y"" is not valid JSON`)).toBe(`Unexpected token '"', ..."[redacted]" is not valid JSON`);
    // Whole (a short body), its names are read as in any JSON; nothing secret, it stays.
    expect(r.query(`Unexpected token 'h', "{"password": hunter2}" is not valid JSON`)).toBe(`Unexpected token 'h', "{"password": [redacted]}" is not valid JSON`);
    expect(r.query(`Unexpected token 'x', "{"page": x}" is not valid JSON`)).toBe(`Unexpected token 'x', "{"page": x}" is not valid JSON`);
  });

  it('redacts a Referer quoting a secret URL among the headers', () => {
    const applied: string[] = [];
    expect(r.headers({ referer: 'http://a.test/b?token=t9', accept: '*/*' }, applied)).toEqual({ referer: 'http://a.test/b?token=[redacted]', accept: '*/*' });
    expect(applied).toEqual(['query token (header referer)']);
  });

  it('redacts the password of userinfo in a Host or X-Forwarded-Host header, which has no scheme (review19.1)', () => {
    const applied: string[] = [];
    const shown = r.headers({ host: 'admin:HOSTPW4321@127.0.0.1:9', 'x-forwarded-host': 'u:XFHPW98765@a.test', accept: 'a:b@c' }, applied);
    expect(shown).toEqual({ host: 'admin:[redacted]@127.0.0.1:9', 'x-forwarded-host': 'u:[redacted]@a.test', accept: 'a:b@c' });
    expect(applied).toEqual(['url password (header host)', 'url password (header x-forwarded-host)']);
    // X-Forwarded-Host is a list when proxies append to it: each entry is an authority.
    expect(r.headers({ 'x-forwarded-host': 'a.test, u:XFHPW22222@b.test' }, [])).toEqual({ 'x-forwarded-host': 'a.test, u:[redacted]@b.test' });
    // A comma is a sub-delim RFC 3986 allows in userinfo: a password holding one goes whole, in Host and in a list's entry.
    expect(r.headers({ host: 'u:PW,SECOND@a.test', 'x-forwarded-host': 'a.test, u:XF,PART2@b.test, v:P3@c.test' }, [])).toEqual({ host: 'u:[redacted]@a.test', 'x-forwarded-host': 'a.test, u:[redacted]@b.test, v:[redacted]@c.test' });
  });
});

describe('private files', () => {
  it('writes a new file 0600 and rewrites an existing 0644 file 0600', () => {
    const dir = tmp();
    const fresh = join(dir, 'fresh');
    writePrivateFile(fresh, 'a\n');
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    const old = join(dir, 'old');
    writeFileSync(old, 'previous content that is longer\n');
    chmodSync(old, 0o644);
    writePrivateFile(old, 'secret\n');
    expect(statSync(old).mode & 0o777).toBe(0o600);
    expect(readFileSync(old, 'utf8')).toBe('secret\n');
  });
});

describe('the dump folder budget', () => {
  const pair = (dir: string, second: number, pid = 7) => {
    const base = join(dir, `2026-01-01T00-00-${String(second).padStart(2, '0')}-000Z-${pid}-${String(second + 1).padStart(4, '0')}`);
    writeFileSync(`${base}.json`, '{}');
    writeFileSync(`${base}.txt`, '');
  };

  it('removes the oldest dumps down to the bound, and no file that is not a dump', () => {
    const dir = tmp();
    for (let s = 0; s < 6; s++) pair(dir, s);
    writeFileSync(join(dir, 'notes.json'), '{}');
    trimFolder(dir, 4);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json')).sort()).toEqual([
      '2026-01-01T00-00-02-000Z-7-0003.json',
      '2026-01-01T00-00-03-000Z-7-0004.json',
      '2026-01-01T00-00-04-000Z-7-0005.json',
      '2026-01-01T00-00-05-000Z-7-0006.json',
      'notes.json',
    ]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.txt'))).toHaveLength(4);
  });

  it('trims to the bound when two writers trim the same listing (what one removed, the other skips)', () => {
    const dir = tmp();
    for (let s = 0; s < 5; s++) pair(dir, s, 1);
    pair(dir, 10, 2);
    pair(dir, 11, 3);
    trimFolder(dir, 5);
    trimFolder(dir, 5);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(5);
  });

  it('gives a site to the first claimant of a run; the others get its path; another run claims afresh', () => {
    const dir = tmp();
    expect(claimSite(dir, '100-a', 'app.ts:3', '/d/first.json')).toEqual({ mine: true });
    expect(claimSite(dir, '100-a', 'app.ts:3', '/d/second.json')).toEqual({ mine: false, path: '/d/first.json' });
    expect(claimSite(dir, '100-a', 'app.ts:4', '/d/third.json')).toEqual({ mine: true });
    expect(claimSite(dir, '200-b', 'app.ts:3', '/d/fourth.json')).toEqual({ mine: true });
    expect(statSync(join(dir, CLAIMS_DIR)).mode & 0o777).toBe(0o700);
  });

  it.runIf(process.getuid?.() === 0)("never follows another user's claims folder: a symbolic link or a folder of another uid in a shared dump folder gets no claim (each dump is written), and boot says so (TSPUMA_ERR_FILE_UNSAFE)", async () => {
    const { Sinks } = await import('../../diagnostics/sinks.js');
    for (const plant of ['symlink', 'foreign folder'] as const) {
      const dir = tmp();
      chmodSync(dir, 0o1777); // a sticky, world-writable dump folder, as /tmp is
      const theirs = tmp();
      chownSync(theirs, 65534, 65534);
      if (plant === 'symlink') symlinkSync(theirs, join(dir, CLAIMS_DIR));
      else {
        mkdirSync(join(dir, CLAIMS_DIR));
        chownSync(join(dir, CLAIMS_DIR), 65534, 65534);
      }
      const planted = plant === 'symlink' ? theirs : join(dir, CLAIMS_DIR);
      // They pre-create the claim of a site, to silence its dump.
      const name = `100-a-${createHash('sha1').update('app.ts:3').digest('hex').slice(0, 20)}`;
      writeFileSync(join(planted, name), '/elsewhere/nothing.json');
      expect([plant, claimSite(dir, '100-a', 'app.ts:3', '/d/first.json')]).toEqual([plant, { mine: true }]);
      expect([plant, claimSite(dir, '100-a', 'app.ts:4', '/d/second.json')]).toEqual([plant, { mine: true }]);
      expect([plant, readdirSync(planted)]).toEqual([plant, [name]]);
      const out: string[] = [];
      new Sinks({ dir, maxFiles: 10, githubActions: false, colour: false, write: (t) => out.push(t), run: '100-a' });
      expect([plant, out.join('')]).toEqual([plant, expect.stringContaining(`tspuma: TSPUMA_ERR_FILE_UNSAFE: Refusing to write the dump site claims folder ${join(dir, CLAIMS_DIR)}`)]);
    }
  });

  it('claims a site again after a phased or hot restart (a new phase loads the code again), not after a respawn in the same phase', async () => {
    const { claimRun } = await import('../../diagnostics/index.js');
    const dir = tmp();
    const phase0 = claimRun({ TSPUMA_CLUSTER_RUN: '100-a', TSPUMA_WORKER_PHASE: '0' })!;
    const respawned = claimRun({ TSPUMA_CLUSTER_RUN: '100-a', TSPUMA_WORKER_PHASE: '0' })!;
    const phase1 = claimRun({ TSPUMA_CLUSTER_RUN: '100-a', TSPUMA_WORKER_PHASE: '1' })!;
    expect(claimSite(dir, phase0, 'src/repo.ts:27', '/d/1.json')).toEqual({ mine: true });
    expect(claimSite(dir, respawned, 'src/repo.ts:27', '/d/2.json')).toEqual({ mine: false, path: '/d/1.json' });
    expect(claimSite(dir, phase1, 'src/repo.ts:27', '/d/3.json')).toEqual({ mine: true });
    // Still cleared with its primary.
    clearStaleClaims(dir, () => false);
    expect(readdirSync(join(dir, CLAIMS_DIR))).toEqual([]);
    expect(claimRun({})).toBeNull();
  });

  it("keeps the claims of a run of another machine or pid namespace sharing the dump folder (a volume several hosts mount), though its pid runs nothing here", async () => {
    const { machineTag } = await import('../../server/process-alive.js');
    const dir = tmp();
    const other = machineTag() === '0000bbbb' ? '0000cccc' : '0000bbbb';
    claimSite(dir, `300-k1-m${other}-phase0`, 'app.ts:3', '/d/1.json');
    claimSite(dir, `400-k2-m${machineTag()}-phase0`, 'app.ts:3', '/d/2.json');
    claimSite(dir, '500-k3-phase0', 'app.ts:3', '/d/3.json'); // a run id of an older tspuma: judged by its pid, as then
    clearStaleClaims(dir, () => false);
    expect(readdirSync(join(dir, CLAIMS_DIR)).map((n) => n.split('-')[0])).toEqual(['300']);
  });

  it('clears the claims of runs whose primary is gone, and keeps the live ones', () => {
    const dir = tmp();
    claimSite(dir, '100-a', 'app.ts:3', '/d/1.json');
    claimSite(dir, '200-b', 'app.ts:3', '/d/2.json');
    clearStaleClaims(dir, (pid) => pid === 200);
    expect(readdirSync(join(dir, CLAIMS_DIR)).map((n) => n.split('-')[0])).toEqual(['200']);
  });
});
