// Integration: `tspuma -b ssl://...` with bad certificate or key files exits 1 with one coded
// line naming the file and the problem, in single and cluster mode, without a stack.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, run, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const CERT = readFileSync(join(ROOT, 'test/fixtures/cert.pem'));
const KEY = readFileSync(join(ROOT, 'test/fixtures/key.pem'));
const APP = join(ROOT, 'examples/hello.ts');

/** Runs tspuma on an ssl:// bind over files written to a temp dir; returns its exit code and stderr. */
async function start(files: Record<string, string | Buffer>, cert: string, key: string, extra: string[] = []) {
  const dir = tempDir('tls-cli');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const s = run(['-b', `ssl://127.0.0.1:0?cert=${join(dir, cert)}&key=${join(dir, key)}`, ...extra, APP]);
  const code = await s.exited;
  return { code, stderr: s.stderr(), dir };
}

describe('TLS file errors on the command line', () => {
  // The CLI's promise (exit 1, one coded line naming the bind and the file, no stack) for a file
  // that cannot be read and for files that read but are wrong; each other problem's text (not PEM,
  // a key of another certificate, an encrypted key…) is test/unit/tls-files.test's, in-process
  // (three CLI starts fewer).
  const cases: { name: string; files: Record<string, string | Buffer>; cert: string; key: string; says: (dir: string) => string }[] = [
    {
      name: 'swapped cert and key',
      files: { 'cert.pem': CERT, 'key.pem': KEY },
      cert: 'key.pem',
      key: 'cert.pem',
      says: (d) => `the cert file ${d}/key.pem holds a private key and the key file ${d}/cert.pem holds a certificate: they are swapped`,
    },
    { name: 'a missing key file', files: { 'cert.pem': CERT }, cert: 'cert.pem', key: 'nokey.pem', says: (d) => `the key file ${d}/nokey.pem does not exist` },
  ];

  for (const c of cases) {
    it(`${c.name}: exit 1 and one TSPUMA_ERR_BIND_TLS line naming the file, no stack`, async () => {
      const { code, stderr, dir } = await start(c.files, c.cert, c.key);
      expect(code).toBe(1);
      expect(stderr).toContain(`tspuma: TSPUMA_ERR_BIND_TLS: Bind \`ssl://127.0.0.1:0?cert=${dir}/${c.cert}&key=${dir}/${c.key}\` (-b in command line): ${c.says(dir)}`);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).not.toMatch(/unexpected error|^\s+at /m);
    });
  }

  it('swapped cert and key under -w 2: the primary reports it once, before forking', async () => {
    const { code, stderr, dir } = await start({ 'cert.pem': CERT, 'key.pem': KEY }, 'key.pem', 'cert.pem', ['-w', '2']);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(`TSPUMA_ERR_BIND_TLS: Bind \`ssl://127.0.0.1:0?cert=${dir}/key.pem&key=${dir}/cert.pem\``)]);
    expect(stderr).toContain('they are swapped');
  });
});
