// A rolling restart behind a real HAProxy: two single-mode tspuma instances, each on a unix
// socket with its healthUrl on another, under a bounded keep-alive load. HAProxy checks each
// instance's /ready (`option httpchk`, inter 200 ms, fall 2, and `timeout check 2s`: without it a
// check's whole timeout is `inter`, and at a load of 22 a healthy instance's /ready took longer
// than 200 ms, so both were down at once and HAProxy answered 503 itself) in a backend of its own that the
// serving backend's servers `track`, so the checked address can differ from the served one and
// stays fixed across restarts. Each instance in turn gets SIGTERM, exits 0 and is started again
// on the same sockets; with drainDelay no request fails.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { keepAliveLoop, type LoopTally } from '../helpers/load.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';
import { docNginx, hostRequest, listening, proxyDir, startProxy, stopProxies } from '../helpers/proxies.js';
import { appFolder } from '../helpers/app-folder.js';

const APP = 'test/fixtures/apps/client-app.mjs';
const HAPROXY = '/usr/sbin/haproxy';
const NAMES = ['a', 'b'] as const;
/**
 * Each load client's pause after an answer: 20 clients still send a request every ~0.5 ms
 * through every drain and restart, and the load costs half the CPU of 20 clients flat out
 * (the file's CPU 10.1 s -> 5.9 s, its wall unchanged: drainDelay and boots set it).
 */
const PAUSE_MS = 10;
/**
 * Clients of the HAProxy roll's load. 10, not 20: about 10,000 requests through the roll at a load
 * of 13 (20 sent 17,000-24,000; the case's CPU 5.3-5.9 -> 4.3-4.4 s), still a request every ~1 ms
 * on each instance through each drain: with --drain-delay 0 (HAProxy routing to a stopped instance
 * until its checks fail) 184 of 436 answered 503.
 */
const HAPROXY_CLIENTS = 10;

afterEach(async () => {
  await stopProxies();
  await killAll();
});
beforeAll(() => {
  expect(spawnSync(HAPROXY, ['-v']).status, 'haproxy is installed (.ci/run installs it)').toBe(0);
});

/** The pid an answer of client-app names ("REMOTE_ADDR PID"). */
const pidOf = (body: string) => Number(/(\d+)$/.exec(body)?.[1]);

function haproxyConfig(dir: string): string {
  const serve = NAMES.map((n) => `  server ${n} unix@${dir}/${n}.sock track ready/${n}`).join('\n');
  const check = NAMES.map((n) => `  server ${n} unix@${dir}/${n}-health.sock check inter 200 fall 2 rise 2`).join('\n');
  return `global
  log stderr format raw local0 warning
defaults
  mode http
  log global
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend web
  bind fd@3
  default_backend tspuma
backend tspuma
  balance roundrobin
${serve}
backend ready
  option httpchk GET /ready
  timeout check 2s
${check}
`;
}

/**
 * Boots both instances and HAProxy in front, runs the load, restarts each instance in turn
 * (SIGTERM, exit 0, boot again on the same sockets, wait until its new pid answers through
 * HAProxy) and stops the load once both new instances answered after the roll.
 */
async function roll(drain: string[]): Promise<{ tally: LoopTally; before: number[]; after: number[]; exits: number[]; rollEnd: number; proxyLog: string }> {
  const dir = proxyDir('roll');
  const start = (n: string) => boot([APP, '-b', `unix://${dir}/${n}.sock`, '--health-url', `unix://${dir}/${n}-health.sock`, ...drain]);
  const first: Booted[] = [];
  for (const n of NAMES) first.push(await start(n));
  const before = first.map((i) => i.proc.pid!);
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(dir));
  const front = await listening();
  const url = `http://127.0.0.1:${front.port}/`;
  // Up once both instances are checked up: two answers in a row from different pids.
  const proxy = await startProxy(HAPROXY, ['-db', '-f', `${dir}/haproxy.cfg`, '-p', `${dir}/haproxy.pid`], [front], {}, async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2; i++) seen.add(pidOf((await get(url).catch(() => ({ body: '' }))).body));
    return seen.size === 2 && before.every((p) => seen.has(p));
  });

  // Its time bound is a safety net (load.stop() ends it): on a loaded machine a roll takes longer than 15 s.
  const load = keepAliveLoop(front.port, HAPROXY_CLIENTS, 60_000, 200_000, { pauseMs: PAUSE_MS });
  const served = (pid: number, from = 0) => load.tally.bodies.slice(from).some((b) => pidOf(b) === pid);
  await waitFor(() => before.every((p) => served(p)), 'both instances to serve under load');
  const exits: number[] = [];
  const after: number[] = [];
  for (const [i, n] of NAMES.entries()) {
    first[i]!.proc.kill('SIGTERM');
    exits.push(await first[i]!.exited);
    const next = await start(n);
    after.push(next.proc.pid!);
    await waitFor(() => served(next.proc.pid!), `the restarted instance ${n} to serve through HAProxy`, 20_000);
  }
  const rollEnd = load.tally.bodies.length;
  await waitFor(() => after.every((p) => served(p, rollEnd)), 'both restarted instances to serve after the roll', 5_000);
  load.stop();
  return { tally: await load.done, before, after, exits, rollEnd, proxyLog: proxy.output() };
}

const count = (m: Map<unknown, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('rolling restart behind HAProxy', () => {
  it('with drainDelay 1.5 s (checks every 200 ms, fall 2; longer on a loaded machine, where checks come late), restarting both instances in turn under load fails no request', async () => {
    const { tally, before, after, exits, rollEnd, proxyLog } = await roll(['--drain-delay', String(1.5 * SLOWNESS)]);
    console.info(`rolling restart with drainDelay: ${tally.requests} requests, statuses ${JSON.stringify([...tally.statuses])}, errors ${JSON.stringify([...tally.errors])}`);
    expect(exits).toEqual([0, 0]);
    // HAProxy's own lines (servers marked up and down, and why) say where failed requests came from.
    expect({ non2xx: [...tally.statuses].filter(([s]) => s < 200 || s > 299), errors: [...tally.errors] }, `HAProxy said:\n${proxyLog.slice(-3000)}`).toEqual({ non2xx: [], errors: [] });
    expect(count(tally.statuses)).toBe(tally.requests);
    const pids = (bodies: string[]) => new Set(bodies.map(pidOf));
    const beforeRoll = pids(tally.bodies.slice(0, rollEnd));
    for (const p of before) expect(beforeRoll.has(p), `old instance ${p} served`).toBe(true);
    for (const p of after) expect(pids(tally.bodies.slice(rollEnd)).has(p), `new instance ${p} served after the roll`).toBe(true);
  }, 90_000 * SLOWNESS);
});

// A roll without drainDelay is the nginx case below (the instances start with no --drain-delay):
// it asserts what a HAProxy roll without it did (exit 0, both new instances serving after the
// roll) and more (no GET fails), for 4 boots, a proxy and 20 clients less.
describe("rolling restart behind docs/deployment.md's nginx block", () => {
  it('restarting both instances in turn (no drainDelay) under keep-alive GET and POST load: both exit 0 and the new ones serve; no GET fails (a refused connection goes to the other instance); failed POSTs are counted', async () => {
    const first = [await boot([APP, '-b', 'tcp://127.0.0.1:0']), await boot([APP, '-b', 'tcp://127.0.0.1:0'])];
    const addresses = first.map((i) => new URL(i.url).host);
    const before = first.map((i) => i.proc.pid!);
    const { port, dir } = await docNginx(addresses);
    const host = `shop.example:${port}`;
    // Both instances answer through nginx before the load starts.
    const seen = new Set<number>();
    await waitFor(async () => (seen.add(pidOf((await hostRequest(port, host)).body)), before.every((p) => seen.has(p))), 'both instances through nginx', 5_000);
    const load = keepAliveLoop(port, 20, 60_000, 200_000, { host, postEvery: 4, pauseMs: PAUSE_MS });
    const served = (pid: number, from = 0) => load.tally.bodies.slice(from).some((b) => pidOf(b) === pid);
    await waitFor(() => before.every((p) => served(p)), 'both instances to serve under load');
    const exits: number[] = [];
    const after: number[] = [];
    /** The roll's steps with nginx's clock (its access log's $msec), for a failure's message. */
    const steps: string[] = [];
    const step = (what: string) => steps.push(`${(Date.now() / 1000).toFixed(3)} ${what}`);
    for (const [i, address] of addresses.entries()) {
      step(`SIGTERM to instance ${i} (${address}, pid ${first[i]!.proc.pid})`);
      first[i]!.proc.kill('SIGTERM');
      exits.push(await first[i]!.exited);
      step(`instance ${i} exited ${exits.at(-1)}`);
      const next = await boot([APP, '-b', `tcp://${address}`]);
      after.push(next.proc.pid!);
      step(`instance ${i} restarted (pid ${next.proc.pid}), listening`);
      await waitFor(() => served(next.proc.pid!), `the restarted instance ${i} to serve through nginx`, 20_000);
      step(`instance ${i} restarted serves through nginx`);
    }
    const rollEnd = load.tally.bodies.length;
    await waitFor(() => after.every((p) => served(p, rollEnd)), 'both restarted instances to serve after the roll', 5_000);
    load.stop();
    const tally = await load.done;
    const failed = count(tally.errors) + [...tally.statuses].filter(([st]) => st < 200 || st > 299).reduce((a, [, c]) => a + c, 0);
    console.info(`rolling restart behind nginx (max_fails=0): ${tally.requests} requests (${tally.posts} POST), ${failed} failed (${tally.failedPosts} POST): statuses ${JSON.stringify([...tally.statuses])}, errors ${JSON.stringify([...tally.errors])}`);
    expect(exits).toEqual([0, 0]);
    // nginx's logs say what each failed request met: its access log the upstreams each try went to
    // and their statuses (docNginx's format), its error log why (refused, reset, closed early).
    const read = (file: string) => {
      try {
        return readFileSync(join(dir, file), 'utf8');
      } catch {
        return '';
      }
    };
    const failedTries = read('access.log').split('\n').filter((l) => / (?!2\d\d )\d{3} upstream=/.test(l));
    // Refused connections are each stopped instance's expected lines: counted by upstream, the rest quoted.
    const errorLines = read('error.log').split('\n').filter((l) => /\[(warn|error|crit|alert|emerg)\]/.test(l));
    const refused = new Map<string, number>();
    for (const l of errorLines.filter((e) => e.includes('connect() failed (111'))) {
      const upstream = /upstream: "([^"]+)"/.exec(l)?.[1] ?? '?';
      refused.set(upstream, (refused.get(upstream) ?? 0) + 1);
    }
    const other = errorLines.filter((l) => !l.includes('connect() failed (111'));
    expect(failed - tally.failedPosts, [
      "failed GETs; the roll's steps:", ...steps,
      "nginx's access log for the failed requests (time, method, status, the upstream of each try):", ...failedTries,
      `refused connections by upstream: ${JSON.stringify([...refused])}; its other error lines:`, ...other.slice(-20),
    ].join('\n')).toBe(0);
  }, 90_000 * SLOWNESS);
});

// fix9.1's mechanism: nginx's second try of a GET (its first refused by the instance restarting)
// waited in the accept queue of the other instance, which a SIGTERM then stopped: closing a
// listener resets every connection still queued on it, so the GET failed at both instances. A
// graceful stop accepts what is queued before it closes, and answers it (Connection: close).
const queued = appFolder('accept-queue', {
  'busy.mjs': `import { existsSync } from 'node:fs';
export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/busy') {
    // The event loop held until the test's release file exists (30 s at most), napping, as a
    // loaded machine holds it: connections meanwhile wait in the listener's accept queue.
    process.stdout.write('busy: holding the event loop\\n');
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const end = Date.now() + 30_000;
    while (Date.now() < end && !existsSync(url.searchParams.get('until'))) Atomics.wait(cell, 0, 0, 10);
  }
  res.end('served ' + url.pathname + '\\n');
}
`,
});

/** A GET on a connection of its own: connected once the kernel accepted it (into the queue), then its answer or its reset. */
function queuedGet(port: number, path: string): { connected: Promise<void>; result: Promise<{ text: string; reset: boolean }> } {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  const connected = new Promise<void>((resolve) => socket.once('connect', () => (socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`), resolve())));
  const result = new Promise<{ text: string; reset: boolean }>((resolve) => {
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ text, reset: err.code === 'ECONNRESET' }));
    socket.on('close', () => resolve({ text, reset: false }));
    socket.setTimeout(30_000, () => socket.destroy());
  });
  return { connected, result };
}

describe('a SIGTERM while connections wait in the accept queue (fix9.1)', () => {
  it('single mode: each queued request is answered (Connection: close), none reset, and the exit is 0', async () => {
    const release = join(queued, 'release');
    const s = await boot(['--inspect=off', '-b', 'tcp://127.0.0.1:0', join(queued, 'busy.mjs')]);
    const port = Number(new URL(s.url).port);
    const busy = queuedGet(port, `/busy?until=${release}`);
    await waitFor(() => s.stdout().includes('busy: holding the event loop'), 'the event loop held');
    s.proc.kill('SIGTERM');
    const later = Array.from({ length: 4 }, (_, i) => queuedGet(port, `/queued-${i}`));
    await Promise.all(later.map((q) => q.connected));
    writeFileSync(release, '');
    const answers = await Promise.all([busy, ...later].map((q) => q.result));
    expect(await s.exited).toBe(0);
    // The busy request was answered before the stop was known: no Connection: close asked of it.
    expect(answers.map((a, i) => ({ reset: a.reset, status: a.text.split('\r\n', 1)[0], ...(i > 0 ? { close: /\r\nconnection: close\r\n/i.test(a.text) } : {}), body: a.text.split('\r\n\r\n')[1]?.trim() }))).toEqual(
      ['/busy', '/queued-0', '/queued-1', '/queued-2', '/queued-3'].map((p, i) => ({ reset: false, status: 'HTTP/1.1 200 OK', ...(i > 0 ? { close: true } : {}), body: `served ${p}` })),
    );
  }, 60_000 * SLOWNESS);
});
