// `npm run bench`: hello world under autocannon against raw node:http and tspuma single mode,
// in the same run, one after the other on the same machine; prints req/s, p50, p99 and ratios.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = 2;
/** Targets run interleaved, ROUNDS times each; the median round is reported (this machine is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '10,100').split(',').map(Number);

interface Target {
  name: string;
  start(port: number): ChildProcess;
}

const TARGETS: Target[] = [
  { name: 'raw node:http', start: (port) => spawn(process.execPath, [`${ROOT}dist/bench/raw-node.js`, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }) },
  {
    name: 'tspuma single',
    start: (port) => spawn(process.execPath, [`${ROOT}dist/server/cli.js`, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}examples/hello.ts`], { stdio: ['ignore', 'pipe', 'inherit'] }),
  },
  { name: 'raw node:cluster -w 2', start: (port) => spawn(process.execPath, [`${ROOT}dist/bench/raw-cluster.js`, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }) },
  {
    name: 'tspuma -w 2',
    start: (port) => spawn(process.execPath, [`${ROOT}dist/server/cli.js`, '-w', '2', '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}examples/hello.ts`], { stdio: ['ignore', 'pipe', 'inherit'] }),
  },
  {
    // Debug mode on a path that never throws: what the diagnostics layer costs when nothing fails.
    name: 'tspuma single -d',
    start: (port) => spawn(process.execPath, [`${ROOT}dist/server/cli.js`, '-d', '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}examples/hello.ts`], { stdio: ['ignore', 'pipe', 'inherit'] }),
  },
  {
    // Puma's maxKeepAlive (999) closes each connection after 999 requests; autocannon reconnects
    // slowly, so this row shows the server's own cost without that client effect.
    name: 'tspuma single, maxKeepAlive 0',
    start: (port) =>
      spawn(
        process.execPath,
        [`${ROOT}dist/server/cli.js`, '-C', `${ROOT}bench/unlimited-keepalive.config.mjs`, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}examples/hello.ts`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
  },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(port: number, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if (res.status === 200 && (await res.text()) === 'Hello World\n') return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server on port ${port} did not answer within ${deadlineMs} ms`);
}

function load(port: number, connections: number, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
}

interface Row {
  target: string;
  connections: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function measure(target: Target, connections: number): Promise<Row> {
  const port = await freePort();
  const child = target.start(port);
  try {
    await waitReady(port);
    await load(port, connections, WARMUP);
    const r = await load(port, connections, DURATION);
    return { target: target.name, connections, reqPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
}

function median(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const connections of CONNECTIONS) {
    const rounds = new Map<string, Row[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of TARGETS) {
        process.stderr.write(`round ${round}/${ROUNDS}: ${target.name} at ${connections} connections for ${DURATION} s...\n`);
        const row = await measure(target, connections);
        rounds.set(target.name, [...(rounds.get(target.name) ?? []), row]);
      }
    }
    for (const target of TARGETS) rows.push(median(rounds.get(target.name)!));
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${os.platform()} ${os.release()}`;
  const lines = [`machine: ${machine}`, `autocannon, keep-alive, median of ${ROUNDS} interleaved rounds of ${DURATION} s after ${WARMUP} s warm-up; ratio = req/s / baseline req/s at the same connections (raw node:cluster -w 2 for -w 2 rows, raw node:http otherwise)`, ''];
  lines.push('| target | conns | req/s | p50 ms | p99 ms | errors | ratio |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const baseName = row.target.includes('-w 2') ? 'raw node:cluster -w 2' : 'raw node:http';
    const base = rows.find((r) => r.connections === row.connections && r.target === baseName)!;
    const ratio = row.reqPerSec / base.reqPerSec;
    lines.push(`| ${row.target} | ${row.connections} | ${Math.round(row.reqPerSec)} | ${row.p50} | ${row.p99} | ${row.errors + row.non2xx} | ${ratio.toFixed(2)}x |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/latest.json`, `${JSON.stringify({ machine, date: new Date().toISOString(), durationSeconds: DURATION, rounds: ROUNDS, rows }, null, 2)}\n`);
  const single = rows.filter((r) => r.target.startsWith('tspuma'));
  process.stdout.write('\n');
  for (const name of new Set(single.map((r) => r.target))) {
    // -d is measured against tspuma single (what debug mode costs), the others against raw node:http.
    const base = name.endsWith(' -d') ? 'tspuma single' : name.includes('-w 2') ? 'raw node:cluster -w 2' : 'raw node:http';
    const target = name.endsWith(' -d') ? 0.95 : 0.9;
    const mine = single.filter((r) => r.target === name);
    const worst = Math.min(...mine.map((r) => r.reqPerSec / rows.find((b) => b.connections === r.connections && b.target === base)!.reqPerSec));
    process.stdout.write(`${name} vs ${base}, worst ratio: ${worst.toFixed(2)}x (target >= ${target.toFixed(2)}x): ${worst >= target ? 'met' : 'MISSED'}\n`);
  }
}

await main();
