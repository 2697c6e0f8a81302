// N29: `tspuma ctl` and `tspuma probe` given a URL where something else answers (the app's own
// port, by mistake) say so in one coded line, with no stack and no raw page.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';

let server: http.Server;
let url = '';
beforeAll(async () => {
  // What Express answers for a path it has no route for.
  server = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html>\n<html><body><pre>Cannot GET /stats</pre></body></html>\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('a control URL where no control app answers', () => {
  for (const command of [['ctl', 'stats'], ['probe', 'list']]) {
    it(`tspuma ${command.join(' ')}: exit 1, one TSPUMA_ERR_CONTROL_NOT_CONTROL line naming the URL and the answer, no page, no stack`, async () => {
      const p = run([...command, '--control-url', url, '--control-token', 'abcdefabcdef123456']);
      expect(await p.exited).toBe(1);
      expect(p.stdout()).toBe('');
      expect(p.stderr()).toBe(
        `tspuma: TSPUMA_ERR_CONTROL_NOT_CONTROL: ${url} (from --control-url) answered 404 text/html, not as a tspuma control app: is it the app's port? The control app's URL is in the state file (-S) and in the server's boot line "* Control app on …".\n`,
      );
    });
  }
});
