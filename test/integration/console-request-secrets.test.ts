// A framework that answers its own 500 and prints the error with console.error (Hono's default
// onError, an Express error middleware) prints what the app put in the message: here the
// request's X-Api-Key value and bearer token, quoted with no secret name before them. The error
// never reaches tspuma, so nothing but the console line's own redaction stands between those
// values and stderr: the values of the secret headers of the requests in the app go, in a
// cluster's workers without -d and in single mode with -d (and from its dump).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const KEY = 'ApiKeySecretP0o9i8u7y6t5';
const TOKEN = 'tokQwErTy123456789';
const APPS = [
  ['Hono 4 (default onError)', 'test/fixtures/apps/hono-quoted-key-app.ts', /Error: amount too large 9 key=\[redacted\] token \[redacted\]/],
  ['Express 5 async router (error middleware)', 'test/fixtures/apps/express-quoted-key-app.ts', /payment failed for \/pay\?amount=9: Error: amount too large 9 key=\[redacted\] token \[redacted\]/],
  // Its line is written after the response: the request has left the app (review19.3).
  ['Express 5 async router (Express\'s final handler)', 'test/fixtures/apps/express-final-handler-key-app.ts', /^Error: amount too large 9 key=\[redacted\] token \[redacted\]$/m],
] as const;

describe("a request's secret header values quoted in an error a framework prints itself", () => {
  for (const [name, app, line] of APPS) {
    for (const [mode, args] of [['-w 2', ['-w', '2']], ['-d, single mode', ['-d', '--inspect=off']]] as const) {
      it(`${name}, ${mode}: the console line keeps the message with the key and token redacted; neither is on stdout, stderr or in a dump`, async () => {
        const dir = tempDir('console-request');
        const s = await boot([...args, '-b', 'tcp://127.0.0.1:0', app], { TSPUMA_DUMP_DIR: dir });
        const res = await fetch(`${s.url}/pay?amount=9`, { headers: { 'x-api-key': KEY, authorization: `Bearer ${TOKEN}` } });
        await res.arrayBuffer();
        expect(res.status).toBe(500);
        await waitFor(() => s.stderr().includes('amount too large 9'), "the framework's error line on stderr", 15_000);
        expect(s.stderr()).toMatch(line);
        const dumps = mode.startsWith('-d') ? await waitFor(() => (readdirSync(dir).some((f) => f.endsWith('.txt')) ? readdirSync(dir) : undefined), 'the dump of the 500', 15_000) : readdirSync(dir);
        const texts = [s.stdout(), s.stderr(), ...dumps.map((f) => readFileSync(join(dir, f), 'utf8'))];
        for (const text of texts) {
          expect(text).not.toContain(KEY);
          expect(text).not.toContain(TOKEN);
        }
      });
    }
  }
});
