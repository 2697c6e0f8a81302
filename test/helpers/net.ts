// Test helpers: raw sockets for bytes no well-behaved client sends, and polling with a deadline.
// No helper picks a port for a child: a child binds port 0 and logs the address it got
// (test/helpers/cli.ts reads it back).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism, loadavg } from 'node:os';

/**
 * How much longer than on a quiet machine a wait for a state may take here: the 1-minute load
 * average per core, halved, from 1 (up to a load of 2 per core) to 8 (2.5 at a load average of 10
 * on 2 cores, 7.5 at 30). It stopped at 4 (a load of 16) until session 19: the shared machine's
 * suites ran at loads of 30-60, where a capped bound ran out for a state that came (tests18.4; a
 * probe's hit after 80 s, '20000 ms, scaled for a load average of 32.8'). Read as each test file starts (refreshSlowness). A deadline of waitFor is how a test learns that a state
 * never comes (a boot, a restart, a log line), not a speed target: on a loaded machine each comes
 * later, so the deadline scales; a quiet machine keeps the deadlines as written.
 */
// In quarters: a timer's or AbortSignal.timeout's delay must be a whole number of ms, and every
// bound written as a multiple of 4 ms stays one when scaled (2000 × 1.0175 was refused by node).
const fromLoad = (): number => Math.min(8, Math.max(1, Math.ceil((loadavg()[0]! / availableParallelism() / 2) * 4) / 4));
/**
 * TSPUMA_TEST_SLOWNESS=N pins it, for a run that is given the cores on a loaded machine
 * (test/accounting/timeline.py's SHARES): the load average counts the others' work, and a run that
 * gets the cores as on a quiet machine would otherwise wait out eight times a quiet run's bounds and
 * the product times scaled with them (replay.test, whose workerTimeout is 8 s x SLOWNESS: 56-58 s of
 * wall at a load of 34-60 against 15.4 s pinned at 1, both runs given the cores; 18.2 s in the quiet run).
 */
const PINNED = process.env.TSPUMA_TEST_SLOWNESS;
if (PINNED !== undefined && !(Number(PINNED) >= 1 && Number(PINNED) <= 8 && Number.isInteger(Number(PINNED) * 4))) {
  throw new Error(`TSPUMA_TEST_SLOWNESS="${PINNED}": expected 1 to 8 in quarters (1, 1.25, ... 8)`);
}
const slownessNow = (): number => (PINNED === undefined ? fromLoad() : Number(PINNED));
export let SLOWNESS = slownessNow();

/**
 * Reads the load again: before each test file (test/helpers/each-file.ts, vitest's setupFiles),
 * since a fork runs many files and keeps this module loaded from the first.
 */
export function refreshSlowness(): void {
  SLOWNESS = slownessNow();
}

/** waitFor's pause between checks: 20 ms for the first half second, then growing by a quarter each time up to 100 ms. */
export const POLL = { firstMs: 20, quickForMs: 500, maxMs: 100 } as const;

/**
 * Polls `check` until it returns a truthy value or the deadline (scaled by SLOWNESS) passes (then
 * throws `what`). Without `everyMs`, a state that is long in coming is checked less often (POLL):
 * a check that asks the server (a control app's /probes/ID, which asks every worker over IPC) cost
 * the server CPU 50 times a second for as long as a restart took.
 */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs?: number): Promise<NonNullable<T>> {
  const limit = Math.round(timeoutMs * SLOWNESS);
  const started = Date.now();
  const deadline = started + limit;
  let pause = everyMs ?? POLL.firstMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${limit} ms${limit === timeoutMs ? '' : ` (${timeoutMs} ms, scaled for a load average of ${loadavg()[0]!.toFixed(1)})`} waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pause));
    if (everyMs === undefined && Date.now() - started > POLL.quickForMs) pause = Math.min(POLL.maxMs, Math.ceil(pause * 1.25));
  }
}

/**
 * fetch on a connection of its own (Connection: close), for polls of tspuma's side listeners (the
 * control app, health, discovery), which close a keep-alive connection idle for 5 s (health: 1 s).
 * A poll sent on a pooled connection the server closed meanwhile fails with undici's 'other side
 * closed' (fetch does not retry): at a load of 45 both of cluster.test's /stats polls failed so,
 * after 1,266 and 4,595 bytes read on their connections (findings tests22.2).
 */
export function fetchFresh(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), connection: 'close' } });
}

/**
 * The JSON body of a 200 answer; any other answer throws with its status and body. A poll of a
 * control app or a discovery list that parsed whatever came got an empty body at a load of 43 and
 * said only `Unexpected end of JSON input` (findings order7.1): not which answer it was.
 */
export async function okJson<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${what}: expected 200 with JSON, got ${res.status}${res.statusText ? ` ${res.statusText}` : ''} (${JSON.stringify(text.slice(0, 500))}, content-type ${res.headers.get('content-type')})`);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${what}: 200 with a body that is not JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 500))}`);
  }
}

export interface RawResult {
  /** Everything the server sent before closing (or before the deadline). */
  text: string;
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Sends bytes on a fresh connection and collects the reply until the server closes or `timeoutMs`
 * (by default 5 s scaled by SLOWNESS: at a load of 57 discovery's answer came after an unscaled
 * 5 s, and the case read an empty reply's headers as missing).
 */
export function rawRequest(port: number, payload: string | Buffer, timeoutMs = 5000 * SLOWNESS, host = '127.0.0.1'): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true });
    });
  });
}

/** The status code of the first response in a raw reply. */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * A loopback port nothing listens on, for "no server there" errors: the local port of a client
 * socket this process keeps connected to a listener of its own, so it stays bound (connecting to it
 * is refused) and no other process can listen on it until `release()`.
 */
export async function refusingPort(): Promise<{ port: number; release: () => void }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('error', reject);
    client.once('connect', resolve);
  });
  return {
    port: client.localPort!,
    release: () => {
      client.destroy();
      server.close();
    },
  };
}

/**
 * Waits until a unix socket accepts a connection. Its file appears at bind(), a moment before
 * listen(): a client that connects in between is refused (ECONNREFUSED), so the file existing is
 * not the state a test needs.
 */
export function acceptsOn(socketPath: string, what = `a listener on ${socketPath}`, timeoutMs = 10_000): Promise<true> {
  const attempt = () =>
    new Promise<boolean>((resolve) => {
      const c = net.connect(socketPath);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
  return waitFor(attempt, what, timeoutMs) as Promise<true>;
}

/** GET over TCP or a unix socket (`socketPath`), without keep-alive; resolves with status and body (by default within 10 s, scaled by SLOWNESS). */
export function get(url: string, socketPath?: string, timeoutMs = 10_000 * SLOWNESS): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.get({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, socketPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/**
 * The connections to the listener on 127.0.0.1:`port` that its server has not closed, accepted or still
 * in its accept queue: the kernel's own list (/proc/net/tcp), states ESTABLISHED, SYN_RECV and
 * CLOSE_WAIT (the client hung up, the server has not closed its end). A client that writes and
 * hangs up at once is done long before the server has accepted and served what it sent: 0 says
 * the server has caught up with every connection it was sent.
 */
export function openServerConnections(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/); // sl local_address rem_address st ...
    if (f[1] === local && (f[3] === '01' || f[3] === '03' || f[3] === '08')) n++;
  }
  return n;
}

/** Connects, writes `payload` in one write and closes at once (a client that hangs up); resolves once closed. */
export function sendAndHangUp(port: number, payload: string, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.write(payload);
      s.destroy();
    });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

/**
 * Loopback TCP servers whose connections a test drives by hand (one that accepts and never
 * answers, one that sends a canned answer); closeAll() destroys their sockets and closes them.
 */
export function tcpServers(): { serve(onConnection: (c: net.Socket) => void): Promise<number>; closeAll(): void } {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  return {
    async serve(onConnection) {
      const server = net.createServer((c) => {
        sockets.add(c);
        c.on('error', () => undefined);
        onConnection(c);
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as net.AddressInfo).port;
    },
    closeAll() {
      for (const c of sockets) c.destroy();
      sockets.clear();
      for (const s of servers.splice(0)) s.close();
    },
  };
}
