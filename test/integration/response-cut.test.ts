// Integration (N27): a response cut after its head (an Express route that throws mid-body, whose
// error middleware hands the error to Express's final handler, which closes the connection; an app
// that destroys its own response) is logged by tspuma with a code, the status and the bytes that
// went out, with and without -d; under -d its dump says the response was cut, not that the app
// answered 200 itself. A response that went out whole, and a client that hangs up, log no such line.
import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/express-cut-app.ts';
afterAll(killAll);

/** GETs url: the status, the body that arrived, and whether it arrived whole. */
function get(url: string, agent: http.Agent | false = false): Promise<{ status: number; body: string; whole: boolean }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, whole: res.complete }));
      res.on('error', () => resolve({ status: res.statusCode!, body, whole: false }));
      res.on('aborted', () => resolve({ status: res.statusCode!, body, whole: false }));
    }).on('error', reject);
  });
}

/** GETs url and hangs up once the first bytes of the body arrived. */
function leave(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => res.once('data', () => (req.destroy(), resolve())));
    req.on('error', () => undefined);
    req.on('close', () => resolve());
    req.on('timeout', () => reject(new Error('no body')));
  });
}

type Line = Record<string, unknown>;
const cutLines = (lines: Line[]) => lines.filter((l) => l.code === 'TSPUMA_ERR_RESPONSE_CUT');

/**
 * The -d server of the two -d cases (request lines on), booted by the first: each reads the dumps
 * of its own routes (/sync, /slow; /feed, /feed-async), each route a failure site of its own. A -d
 * boot each cost one more.
 */
let debugServer: Promise<{ s: Awaited<ReturnType<typeof boot>>; dir: string }> | undefined;
const sharedDebug = () =>
  (debugServer ??= (async () => {
    const dir = tempDir('cut');
    return { s: await boot(['-d', '--inspect=off', '--log-requests', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir }), dir };
  })());

describe('a response cut after its head', () => {
  it('without -d: one warn line per cut, with the code, status, bytes sent and request id; none for a whole response', async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', APP]);
    expect(await get(`${s.url}/stream`)).toEqual({ status: 200, body: 'part 1\n', whole: false });
    const stream = await waitFor(() => cutLines(s.lines()).find((l) => String(l.msg).startsWith('GET /stream')), 'the cut line of /stream');
    expect(stream.level).toBe(40);
    // The head and 'part 1\n' in chunked framing: what went out on the connection, which served this request only.
    expect(stream.msg).toMatch(/^GET \/stream: the response was cut after its head \(200\) and \d+ bytes in all \(head and body\): the connection was closed before the response ended \(by the app or its framework: Express's final handler does so for an error after the head went out\); the client has a truncated response \(request [\w-]+\)\.$/);
    expect(stream).toMatchObject({ method: 'GET', url: '/stream', status: 200 });
    expect(stream.bytes).toBeGreaterThan('part 1\n'.length);
    expect(await get(`${s.url}/destroy`)).toEqual({ status: 200, body: 'chunk 1\n', whole: false });
    await waitFor(() => cutLines(s.lines()).find((l) => String(l.msg).startsWith('GET /destroy')), 'the cut line of /destroy');
    // A keep-alive connection's second response: without the request log its start is not
    // marked, and the count says it includes the first.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await get(`${s.url}/whole`, agent)).toEqual({ status: 200, body: 'whole\n', whole: true });
    expect(await get(`${s.url}/sync`, agent)).toEqual({ status: 200, body: 'x', whole: false });
    agent.destroy();
    const second = await waitFor(() => cutLines(s.lines()).find((l) => l.url === '/sync'), 'the cut line of /sync');
    expect(second.msg).toMatch(/^GET \/sync: the response was cut after its head \(200\) and \d+ bytes on its connection \(its 1 earlier response\(s\) included\): /);
    expect(cutLines(s.lines()).map((l) => l.url)).toEqual(['/stream', '/destroy', '/sync']);
  });

  it('with -d: the dump says the response was cut after its head and how many bytes went out, not "the app answered 200 itself"', async () => {
    const { s, dir } = await sharedDebug();
    expect(await get(`${s.url}/sync`)).toEqual({ status: 200, body: 'x', whole: false });
    const d: Dump = await waitFor(() => dumpsIn(dir).find((d) => d.request?.url === '/sync'), 'the dump of /sync');
    expect(d.error.message).toBe('the report generator failed after its first byte');
    expect(d.response).toMatchObject({ status: 200, cut: { bytes: expect.any(Number) } });
    await waitFor(() => /response: cut after its head \(200\) and \d+ bytes in all/.test(s.stdout() + s.stderr()) || undefined, 'the dump text');
    expect(s.stdout() + s.stderr()).not.toMatch(/response: the app answered 200 itself/);
    // The warn line too, under -d; with the request log on, the response's own bytes.
    const line = await waitFor(() => cutLines(s.lines()).find((l) => l.url === '/sync'), 'the cut line of /sync');
    expect(line.bytes).toBe(d.response!.cut!.bytes);
    // A client that leaves a download: its request line (status 200, what went out), no cut line.
    await leave(`${s.url}/slow`);
    await waitFor(() => s.lines().find((l) => (l.request as { url?: string } | undefined)?.url === '/slow'), 'the request line of /slow');
    expect(cutLines(s.lines()).map((l) => l.url).filter((u) => u === '/sync' || u === '/slow')).toEqual(['/sync']);
  });

  it('with -d: a stream that fails halfway by destroying itself with an error (no throw) gets a dump of that error, from its stack, saying the response was cut (review10.4)', async () => {
    const { s, dir } = await sharedDebug();
    for (const path of ['/feed', '/feed-async']) {
      expect(await get(`${s.url}${path}`)).toEqual({ status: 200, body: 'chunk 1\n', whole: false });
      const d: Dump = await waitFor(() => dumpsIn(dir).find((d) => d.request?.url === path), `the dump of ${path}`);
      expect(d.error.message).toBe(`${path.slice(1)}: upstream feed broke at chunk 2`);
      expect(d.response).toMatchObject({ status: 200, cut: { bytes: expect.any(Number) } });
      // Created and handed on, never thrown: its frames are from its stack, the app's read() among them.
      expect(d.frames.some((f) => f.file === APP && !f.library)).toBe(true);
    }
  });
});
