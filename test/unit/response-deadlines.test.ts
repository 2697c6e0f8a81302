// requestTimeout bounds the time to a response's head; once the head is out, a response that keeps
// moving bytes is not cut, and one whose bytes stop moving for responseStallTimeout is.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener } from '../../server/adapters.js';
import { waitFor } from '../helpers/net.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const CHUNK = 'x'.repeat(1024);

/** A download: head at once, then `chunks` chunks `everyMs` apart, with its Content-Length. */
const download = (chunks: number, everyMs: number, stallAfter = Infinity) =>
  nodeListener((_req, res) => {
    res.writeHead(200, { 'content-length': String(chunks * CHUNK.length) });
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= stallAfter) return; // the app stops writing: the body stalls
      res.write(CHUNK);
      if (++sent === chunks) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  });

function fetchBody(url: string): Promise<{ status: number; bytes: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode!, bytes, complete: res.complete }));
        res.on('error', () => resolve({ status: res.statusCode!, bytes, complete: false }));
        res.on('aborted', () => resolve({ status: res.statusCode!, bytes, complete: false }));
      })
      .on('error', reject);
  });
}

describe('response deadlines', () => {
  it('does not cut a streaming download that outlasts requestTimeout while its bytes keep moving', async () => {
    const t = await startTest({ app: download(12, 200), requestTimeout: 1, responseStallTimeout: 1 });
    const got = await fetchBody(t.url);
    expect(got).toEqual({ status: 200, bytes: 12 * CHUNK.length, complete: true });
    expect(t.lines.some((l) => l.code === 'TSPUMA_ERR_REQUEST_TIMEOUT')).toBe(false);
  });

  it('cuts a response whose head went out but whose bytes stopped for responseStallTimeout, with a coded line', async () => {
    const t = await startTest({ app: download(12, 50, 3), requestTimeout: 30, responseStallTimeout: 0.5 });
    const started = Date.now();
    const got = await fetchBody(t.url);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBe(3 * CHUNK.length);
    expect(Date.now() - started).toBeLessThan(10_000);
    const line = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_RESPONSE_STALLED'), 'the stall line');
    expect(line.msg).toContain('responseStallTimeout (0.5 s)');
    await waitFor(() => t.running.server.stats().running === 0, 'the slot released');
  });
});
