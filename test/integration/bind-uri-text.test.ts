// Integration: a bad bind URI's one-line error (what stays on screen after the dump) redacts a
// password in the URI as the dump does, and a TLS bind's key file is named, not redacted.
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, run } from '../helpers/cli.js';

afterEach(killAll);

const APP = 'test/fixtures/apps/fetch-app.ts';

describe('bind URIs in error text', () => {
  for (const debug of [[], ['-d', '--inspect=off']]) {
    it(`${debug.length ? 'with -d' : 'without -d'}: a password in a bad bind URI is redacted on every line, the user kept`, async () => {
      const s = run([...debug, '-b', 'http://user:bindpw123@127.0.0.1:0', APP]);
      expect(await s.exited).toBe(1);
      expect(s.stderr()).toContain('tspuma: TSPUMA_ERR_BIND_URI: Bind `http://user:[redacted]@127.0.0.1:0`');
      expect(s.stderr()).not.toContain('bindpw123');
    });
  }

  it("with -d: a TLS bind's missing key file is named in the dump and the one-line error", async () => {
    const s = run(['-d', '--inspect=off', '-b', 'ssl://127.0.0.1:0?cert=/nonexistent/site.crt&key=/nonexistent/site.key', APP]);
    expect(await s.exited).toBe(1);
    const headline = s.stderr().split('\n').find((l) => l.startsWith('tspuma dump #1'));
    expect(headline).toContain('key=/nonexistent/site.key');
    const oneLine = s.stderr().split('\n').find((l) => l.startsWith('tspuma: TSPUMA_ERR_BIND_TLS'));
    expect(oneLine).toContain('key=/nonexistent/site.key');
    // The locals that hold the URI name the file too (a key file's path is not remembered as a secret).
    expect(s.stderr()).toContain('uri="ssl://127.0.0.1:0?cert=/nonexistent/site.crt&key=/nonexistent/site.key"');
  });
});
