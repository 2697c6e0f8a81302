// Integration: examples/sse.ts and examples/websocket.ts under the built CLI with real clients
// (an EventSource-compatible reader, ws): they leave the pool, show in stats, close when idle,
// and a graceful stop ends streams and sends WebSockets a close frame.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { boot, controlUrl, killAll, ROOT } from '../helpers/cli.js';
import { fetchFresh, SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { ownedByTest, type Owned } from '../helpers/processes.js';
import { openSse } from '../helpers/sse.js';
import { tempDir } from '../helpers/temp.js';

// Each case runs servers of its own and mostly waits on them (stops, upgradedIdleTimeout): they run
// side by side ({ concurrent: true }), each ending its own (ownedByTest). In turn the file took 5.7 s
// of a quiet run's wall for 1.2 s of CPU.
afterAll(killAll);

const SSE = join(ROOT, 'examples/sse.ts');
const WS = join(ROOT, 'examples/websocket.ts');
const TOKEN = 'long-lived-token-0123456789';
/**
 * A plain request beside the long-lived connections is answered "at once": within 3 s, scaled by the
 * load (at most 24 s), well before requestTimeout's 503 (60 s) that a request queued behind a
 * connection kept in the pool would get.
 */
const PLAIN_MS = 3000 * SLOWNESS;
/**
 * upgradedIdleTimeout, 1 s scaled by the load: the busy stream's ticks (every 100 ms) must keep
 * coming within it from a worker that waits for a CPU.
 */
const IDLE_S = SLOWNESS;

function config(body: string): string {
  const dir = tempDir('long');
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { ${body} };\n`);
  return join(dir, 'tspuma.config.mjs');
}

interface Connections {
  app: number;
  upgraded: number;
  streaming: number;
}
interface WorkerStats {
  last_status?: { running: number; connections: Connections };
}

/**
 * One worker behind a control app, so its check-ins (every half second) give its stats. Its
 * workerShutdownTimeout (10 s, scaled by the load) bounds the graceful stop the cases wait on: past
 * it the worker is killed and the streams are cut, not ended.
 */
async function oneWorker(mine: Owned, app: string) {
  const cfg = config(`workerCheckInterval: 0.5, workerShutdownTimeout: ${10 * SLOWNESS}`);
  const s = mine.adopt(await boot(['-C', cfg, '-w', '1', '-t', '1:1', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, app]));
  const control = await controlUrl(s);
  const stats = async () => ((await okJson(await fetchFresh(`${control}/stats?token=${TOKEN}`), '/stats')) as { worker_status: WorkerStats[] }).worker_status[0]!.last_status;
  return { ...s, stats };
}

function connect(url: string): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('error', reject);
  });
}

describe('long-lived connections', { concurrent: true }, () => {
  it('SSE: streams leave the pool (-t 1:1 still serves), count as streaming, and end at a graceful stop', async (ctx) => {
    const mine = ownedByTest(ctx, 'long-lived');
    const s = await oneWorker(mine, SSE);
    const base = s.url.replace(/\/$/, '');
    const streams = await Promise.all([1, 2, 3].map(() => openSse(`${base}/events?ms=50`)));
    for (const st of streams) {
      expect(st.status).toBe(200);
      expect(st.contentType).toBe('text/event-stream');
    }
    await waitFor(() => streams.every((st) => st.events.length >= 3), 'three ticks on every stream');
    expect(streams[0]!.events[0]).toMatchObject({ id: '1', event: 'tick' });
    expect(JSON.parse(streams[0]!.events[0]!.data)).toMatchObject({ n: 1 });
    // Three open streams and one slot: a plain request is still answered at once.
    const plain = await fetch(`${base}/`, { signal: AbortSignal.timeout(PLAIN_MS) });
    expect(plain.status).toBe(200);
    // A check-in also goes out as a request enters the app (the plain one above: running 1 then),
    // so wait for one taken with no request in the app; streams counted in the pool would keep
    // running at 3 and never give one.
    const seen = await waitFor(async () => {
      const st = await s.stats();
      return st && st.connections.streaming === 3 && st.running === 0 ? st : null;
    }, 'stats: 3 streaming and none running', 10_000);
    expect(seen.running).toBe(0);
    expect(seen.connections.app).toBe(0);
    // Last-Event-ID resumes the count, as EventSource does on reconnect.
    const resumed = await openSse(`${base}/events?ms=50`, '41');
    await waitFor(() => resumed.events.length >= 1, 'a resumed tick');
    expect(resumed.events[0]!.id).toBe('42');
    resumed.close();

    s.proc.kill('SIGTERM');
    expect(await Promise.all(streams.map((st) => st.ended))).toEqual([true, true, true]); // ended by the server, not cut
    expect(await s.exited).toBe(0);
  });

  it('WebSocket: the chat works beside HTTP, counts as upgraded, refuses what accept() refuses, and gets 1001 at a graceful stop', async (ctx) => {
    const mine = ownedByTest(ctx, 'long-lived');
    const s = await oneWorker(mine, WS);
    const wsBase = s.url.replace(/^http/, 'ws').replace(/\/$/, '');
    const ann = await connect(`${wsBase}/chat?name=ann`);
    const bob = await connect(`${wsBase}/chat?name=bob`);
    bob.ws.send('hi ann');
    await waitFor(() => ann.messages.includes('bob: hi ann'), 'ann hears bob');
    bob.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    // Two sockets and one slot: HTTP is still answered.
    const plain = await fetch(s.url, { signal: AbortSignal.timeout(PLAIN_MS) });
    expect(await plain.text()).toMatch(/^2 in the chat room/);
    await waitFor(async () => (await s.stats())?.connections.upgraded === 2, 'stats: 2 upgraded', 10_000);
    // accept() answers 404 for another path: the handshake is refused with that status.
    const refused = await new Promise<number>((resolve, reject) => {
      const bad = new WebSocket(`${wsBase}/elsewhere`);
      bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      bad.on('open', () => reject(new Error('opened')));
      bad.on('error', () => undefined);
    });
    expect(refused).toBe(404);

    s.proc.kill('SIGTERM');
    const [a, b] = await Promise.all([ann.closed, bob.closed]);
    expect(a).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(b.code).toBe(1001);
    expect(await s.exited).toBe(0);
  });

  it('idle long-lived connections close after upgradedIdleTimeout: an end for a silent stream, 1001 for a silent WebSocket', async (ctx) => {
    const mine = ownedByTest(ctx, 'long-lived');
    const cfg = config(`upgradedIdleTimeout: ${IDLE_S}`);
    // Two servers, booted and left idle at the same time.
    const [sse, ws] = await Promise.all([boot(['-C', cfg, '-b', 'tcp://127.0.0.1:0', SSE]).then(mine.adopt), boot(['-C', cfg, '-b', 'tcp://127.0.0.1:0', WS]).then(mine.adopt)]);
    const silent = await connect(`${ws.url.replace(/^http/, 'ws').replace(/\/$/, '')}/chat?name=quiet`);
    // A tick a minute: nothing moves after the first bytes.
    const quiet = await openSse(`${sse.url.replace(/\/$/, '')}/events?ms=60000`);
    // Its idle time counts from its first bytes, not from the busy stream's opening after them.
    const started = Date.now();
    const busy = await openSse(`${sse.url.replace(/\/$/, '')}/events?ms=100`);
    expect(await quiet.ended).toBe(true);
    const after = Date.now() - started;
    expect(after).toBeGreaterThanOrEqual(IDLE_S * 1000 - 100);
    expect(after).toBeLessThan(5000 * SLOWNESS);
    // The busy one moves bytes, so it is still open.
    const before = busy.events.length;
    await waitFor(() => busy.events.length > before + 2, 'the busy stream keeps ticking');
    busy.close();

    expect(await silent.closed).toEqual({ code: 1001, reason: 'idle timeout' });
  });
});
