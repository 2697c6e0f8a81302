// An app failing the same way on every request prints its error line once, then a count: the
// 500 the server answers in the app's place, and a failure after the app's head went out (the
// connection is cut), alike. Repeated full error lines were a log storm (3,000 failures printed
// megabytes) and most of what a repeated failure cost.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener, rack } from '../../server/adapters.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

/** GET / once on a fresh connection: the status, or 'cut' when the connection closed without a response. */
function get(port: number): Promise<number | 'cut'> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
  });
}

const errorLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 50);

describe('repeated app failures', () => {
  it('logs a failure answered with a 500 in full once; 30 more of its kind add no line', async () => {
    let n = 0;
    const t = await startTest({ app: rack(() => { throw new Error(`user ${++n} not found`); }) });
    for (let i = 0; i < 31; i++) expect(await get(t.port)).toBe(500);
    const lines = errorLines(t.lines);
    expect(lines.map((l) => l.msg)).toEqual(['GET / failed: user 1 not found']);
  });

  it('logs a failure after the head went out (TSPUMA_ERR_RESPONSE_STREAM) in full once; 30 more of its kind add no line', async () => {
    let n = 0;
    const t = await startTest({
      app: nodeListener((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        throw new Error(`no price for order ${++n}`);
      }),
    });
    for (let i = 0; i < 31; i++) expect(await get(t.port)).toBe('cut');
    const lines = errorLines(t.lines);
    expect(lines.map((l) => l.code)).toEqual(['TSPUMA_ERR_RESPONSE_STREAM']);
    expect(lines[0]!.msg).toContain('no price for order 1');
  });

  it('says a failure after the app ended its response came after a complete response, not that the body was cut (review20.7)', async () => {
    const t = await startTest({
      app: nodeListener((_req, res) => {
        res.end('one');
        res.writeHead(500); // ERR_HTTP_HEADERS_SENT, thrown by the app's own call
      }),
    });
    expect(await get(t.port)).toBe(200);
    const lines = errorLines(t.lines);
    expect(lines.map((l) => [l.code, l.msg])).toEqual([['TSPUMA_ERR_RESPONSE_STREAM', 'GET / failed after its response was complete (the client got the whole of it): Cannot write headers after they are sent to the client; the connection was closed.']]);
  });
});
