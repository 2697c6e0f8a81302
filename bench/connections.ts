// `npm run bench:connections`: how many idle connections one tspuma process holds. Spawns tspuma
// single mode on bench/sse-app.ts and client processes (forks of this file) that open idle SSE or
// keep-alive connections from 127.0.0.2 and up; reports RSS per connection and fresh latency.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { freePort } from './ports.js';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** Client side: ask for this many connections, get how many answered. */
type ToClient = { type: 'open'; count: number; mode: Mode; port: number; firstAddress: number };
type FromClient = { type: 'opened'; ok: number; failed: number; errors: Record<string, number> } | { type: 'ready' };
type Mode = 'sse' | 'keepalive';

/** CONN_SERVER=raw: bare node:http (keep-alive mode only), the baseline for bytes per connection. */
const RAW = process.env.CONN_SERVER === 'raw';
const MODE: Mode = process.env.CONN_MODE === 'keepalive' || RAW ? 'keepalive' : 'sse';
/** The app tspuma serves: bench/sse-app.ts (a Node listener), or CONN_APP=examples/sse.ts (web streams). */
const APP = process.env.CONN_APP ?? 'bench/sse-app.ts';
const TARGET = Number(process.env.CONN_TARGET ?? 65_536);
const TIME_LIMIT_S = Number(process.env.CONN_SECONDS ?? 180);
/** Connections per client process (each has its own fd limit). */
const PER_CLIENT = 15_000;
/** Source addresses per client: the ephemeral range (~28k ports) per address is then never the limit. */
const ADDRESSES_PER_CLIENT = 2;
const BATCH = 1000;
const CONNECT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------- client process
function runClient(): void {
  const held: net.Socket[] = [];
  process.on('message', (m: ToClient) => {
    if (m.type !== 'open') return;
    const errors: Record<string, number> = {};
    let ok = 0;
    let failed = 0;
    let pending = m.count;
    const request = m.mode === 'sse' ? 'GET /events?ms=3600000 HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n' : 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n';
    const done = () => {
      if (--pending === 0) process.send!({ type: 'opened', ok, failed, errors } satisfies FromClient);
    };
    for (let i = 0; i < m.count; i++) {
      const localAddress = `127.0.0.${m.firstAddress + ((held.length + i) % ADDRESSES_PER_CLIENT)}`;
      const socket = net.connect({ host: '127.0.0.1', port: m.port, localAddress });
      let answered = false;
      const timer = setTimeout(() => fail('timeout'), CONNECT_TIMEOUT_MS);
      const fail = (why: string) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        errors[why] = (errors[why] ?? 0) + 1;
        failed++;
        socket.destroy();
        done();
      };
      socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      socket.once('connect', () => socket.write(request));
      socket.once('data', (chunk: Buffer) => {
        if (answered) return;
        if (!chunk.subarray(0, 12).toString().startsWith('HTTP/1.1 200')) return fail('status');
        answered = true;
        clearTimeout(timer);
        ok++;
        held.push(socket);
        socket.on('error', () => undefined);
        socket.resume();
        done();
      });
    }
  });
  process.send!({ type: 'ready' } satisfies FromClient);
}

// ---------------------------------------------------------------- driver
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function fdLimitOf(pid: number): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Median and max of 20 fresh requests, each on a new connection. */
async function freshLatency(port: number): Promise<{ p50: number; max: number; failed: number }> {
  const times: number[] = [];
  let failed = 0;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
      await res.text();
      if (res.ok) times.push(performance.now() - t);
      else failed++;
    } catch {
      failed++;
    }
  }
  times.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return { p50: round(times[Math.floor(times.length / 2)] ?? NaN), max: round(times[times.length - 1] ?? NaN), failed };
}

interface Checkpoint {
  connections: number;
  rssMiB: number;
  bytesPerConnection: number;
  freshP50Ms: number;
  freshMaxMs: number;
  freshFailed: number;
}

async function main(): Promise<void> {
  const port = await freePort();
  // The server gets the highest fd limit this machine allows a process (its hard limit).
  const args = RAW
    ? [`${ROOT}dist/bench/raw-node.js`, String(port)]
    : [`${ROOT}dist/server/cli.js`, '-q', '-e', 'production', '-C', `${ROOT}bench/connections.config.mjs`, '-b', `tcp://127.0.0.1:${port}?backlog=4096`, `${ROOT}${APP}`];
  const server: ChildProcess = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RAW_KEEPALIVE_MS: '0' },
  });
  let serverErr = '';
  server.stdout!.on('data', (c: Buffer) => (serverErr += c.toString()));
  server.stderr!.on('data', (c: Buffer) => (serverErr += c.toString()));
  const deadline = Date.now() + TIME_LIMIT_S * 1000;
  const clients: ChildProcess[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break;
      } catch {
        /* booting */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = server.pid!;
    const fdLimit = fdLimitOf(pid);
    const baseline = rssOf(pid);
    // Past its fd limit a process can only refuse (libuv accepts and resets): keep 100 spare so
    // the fresh request still has a descriptor, and say so.
    const cap = Math.min(TARGET, fdLimit - 100);
    process.stderr.write(`server pid ${pid}: fd limit ${fdLimit}, RSS ${(baseline / 1048576).toFixed(1)} MiB idle; opening up to ${cap} ${MODE} connections (${TIME_LIMIT_S} s at most)\n`);
    const checkpoints: Checkpoint[] = [];
    const measure = async (n: number) => {
      const rss = rssOf(pid);
      const fresh = await freshLatency(port);
      const c = { connections: n, rssMiB: Math.round((rss / 1048576) * 10) / 10, bytesPerConnection: n > 0 ? Math.round((rss - baseline) / n) : 0, freshP50Ms: fresh.p50, freshMaxMs: fresh.max, freshFailed: fresh.failed };
      checkpoints.push(c);
      process.stderr.write(`${JSON.stringify(c)}\n`);
    };
    await measure(0);
    let open = 0;
    let stopReason = cap < TARGET ? `the server's fd limit: ${fdLimit} descriptors, 100 kept for fresh requests; ${TARGET} was asked` : `reached the target of ${TARGET}`;
    const errors: Record<string, number> = {};
    let nextCheckpoint = 1000;
    outer: while (open < cap) {
      const index = Math.floor(open / PER_CLIENT);
      if (!clients[index]) {
        const c = fork(SELF, [], { env: { ...process.env, CONN_ROLE: 'client' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
        await new Promise<void>((r) => c.once('message', () => r()));
        clients[index] = c;
      }
      const client = clients[index]!;
      const count = Math.min(BATCH, cap - open, (index + 1) * PER_CLIENT - open);
      const result = await new Promise<FromClient & { type: 'opened' }>((resolve) => {
        client.once('message', (m: FromClient) => resolve(m as FromClient & { type: 'opened' }));
        client.send({ type: 'open', count, mode: MODE, port, firstAddress: 2 + index * ADDRESSES_PER_CLIENT } satisfies ToClient);
      });
      open += result.ok;
      for (const [k, v] of Object.entries(result.errors)) errors[k] = (errors[k] ?? 0) + v;
      if (open >= nextCheckpoint) {
        await measure(open);
        nextCheckpoint = open < 10_000 ? open + 4000 : open + 10_000;
      }
      if (result.failed > count * 0.01) {
        stopReason = `${result.failed} of a batch of ${count} failed (${JSON.stringify(result.errors)})`;
        break outer;
      }
      if (Date.now() > deadline) {
        stopReason = `time limit of ${TIME_LIMIT_S} s`;
        break;
      }
    }
    if (checkpoints[checkpoints.length - 1]!.connections !== open) await measure(open);
    const last = checkpoints[checkpoints.length - 1]!;
    const accepted = (serverErr.match(/accept failed: (\w+)/g) ?? []).length;
    const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`;
    const lines = [
      `machine: ${machine}`,
      `mode: ${MODE} (idle connections to ${RAW ? 'bare node:http' : `tspuma single on ${APP}`}), server fd limit ${fdLimit} (its hard limit; raising it needs CAP_SYS_RESOURCE)`,
      '',
      '| connections | RSS MiB | bytes/conn | fresh p50 ms | fresh max ms | fresh failed |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
      ...checkpoints.map((c) => `| ${c.connections} | ${c.rssMiB} | ${c.bytesPerConnection} | ${c.freshP50Ms} | ${c.freshMaxMs} | ${c.freshFailed} |`),
      '',
      `largest N reached: ${open} (stopped: ${stopReason}); server accept errors logged: ${accepted}`,
      `target 65536 in one process, RSS <= 1 GiB, fresh < 50 ms: ${open >= 65_536 && last.rssMiB <= 1024 && last.freshP50Ms < 50 ? 'met' : `not met at this N (RSS ${last.rssMiB} MiB, fresh p50 ${last.freshP50Ms} ms; ${last.bytesPerConnection} bytes/conn would give ${Math.round((65_536 * last.bytesPerConnection) / 1048576 + checkpoints[0]!.rssMiB)} MiB at 65536)`}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(`${ROOT}bench/results/connections.json`, `${JSON.stringify({ machine, date: new Date().toISOString(), mode: MODE, fdLimit, reached: open, stopReason, errors, checkpoints }, null, 2)}\n`);
  } finally {
    for (const c of clients) c.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}

if (process.env.CONN_ROLE === 'client') runClient();
else await main();
