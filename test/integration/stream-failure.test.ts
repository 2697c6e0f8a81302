// Integration (finding Q21): a streamed response whose stream fails mid-way. Every chunk the app
// produced before the failure reaches the client, then the connection is cut without the chunked
// body's last chunk (the client sees a cut body, not a complete one), as node:http piping the same
// stream does; the failure is logged.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';
import { rawRequest, waitFor } from '../helpers/net.js';

const root = appFolder('stream-failure', {
  // Rows 0..2 are produced, row 3 throws: at once (/fast), or 50 ms apart (/slow).
  'stream-app.mjs': `async function* rows(limit, gap) {
  for (let i = 0; i < limit; i++) {
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
    if (i === 3) throw new Error(\`row \${i} could not be read (limit \${limit})\`);
    yield \`row \${i}\\n\`;
  }
}
export default async function app(request) {
  const gap = new URL(request.url).pathname === '/slow' ? 50 : 0;
  const it = rows(10, gap);
  const stream = new ReadableStream({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(new TextEncoder().encode(value));
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/csv' } });
}
`,
});

let s: Booted;
beforeAll(async () => {
  s = await boot(['-b', 'tcp://127.0.0.1:0', join(root, 'stream-app.mjs')], {}, root);
});
afterAll(killAll);

/** The chunked body's data, decoded, and whether its last chunk (0 CRLF CRLF) came. */
function dechunk(text: string): { data: string; complete: boolean } {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  let data = '';
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) return { data, complete: false };
    const size = parseInt(body.slice(at, eol), 16);
    if (size === 0) return { data, complete: true };
    if (body.length < eol + 2 + size) return { data: data + body.slice(eol + 2), complete: false };
    data += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

describe('a streamed response that fails mid-way', () => {
  for (const path of ['/fast', '/slow']) {
    it(`${path}: the rows produced before the failure reach the client, then the connection is cut without the body's last chunk`, async () => {
      const r = await rawRequest(Number(new URL(s.url).port), `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 30_000);
      expect(r.closed).toBe(true);
      expect(r.text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect(dechunk(r.text)).toEqual({ data: 'row 0\nrow 1\nrow 2\n', complete: false });
      // Logged (the second of the kind within the fold interval is counted into a later line).
      await waitFor(() => s.lines().find((l) => l.code === 'TSPUMA_ERR_RESPONSE_STREAM'), 'the failure line');
    });
  }
});
