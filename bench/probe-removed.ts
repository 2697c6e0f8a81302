// `node dist/bench/probe-removed.js`: what a probe leaves behind once removed, in instructions per
// request under callgrind (repeatable whatever else the machine runs), where bench:probes' req/s
// ratio for "a probe set and removed" moves by more than the target's 1 % from one run to the next.
// Two single-mode tspuma servers of examples/express.ts under callgrind, side by side: one never
// has a probe; the other has one set on the route's hot line (KIND: count, the bench:probes row's;
// log; snapshot), PROBED requests served with it set, then removed. Both then get the same number
// of requests in all (WARMUP), and WINDOWS windows of REQUESTS each, in turn: their medians compared.
// FUNCTIONS=N also prints the N functions whose self instructions per request differ most between
// their last windows (JIT code named through --perf-basic-prof).
import autocannon from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { readPerfMap, selfByFunction } from './callgrind-functions.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = `${ROOT}examples/express.ts`;
const HOT = readFileSync(APP, 'utf8').split('\n').findIndex((l) => l.includes('res.json({ id: Number(req.params.id)')) + 1;
const WARMUP = Number(process.env.WARMUP ?? 12_000);
const REQUESTS = Number(process.env.REQUESTS ?? 2_000);
const WINDOWS = Number(process.env.WINDOWS ?? 3);
const PROBED = Number(process.env.PROBED ?? 2_000);
const KIND = process.env.KIND ?? 'count';
const FUNCTIONS = Number(process.env.FUNCTIONS ?? 0);
const CONNECTIONS = 10;
const TOKEN = 'bench-probe-removed-token-0123456789';
/** As bench/cpu-per-request.ts: a fixed young generation, so the GC's share follows what a request allocates. */
const NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16', ...(FUNCTIONS > 0 ? ['--perf-basic-prof'] : [])];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function drive(port: number, amount: number): Promise<void> {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/users/7`, connections: CONNECTIONS, amount, timeout: 600 });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx answers and ${r.errors} errors in ${amount} requests`);
}

/** The control app, through node:http: fetch gives up on headers after 300 s, and a probe set under callgrind takes longer. */
function api(control: number, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: control, method, path, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const json = JSON.parse(text) as Record<string, unknown>;
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: ${text}`));
        else resolve(json);
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
  control: number;
  dir: string;
  stderr: string;
  windows: number[];
  functions: Map<string, number> | null;
}

async function boot(name: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'tspuma-probe-removed-'));
  const port = await freePort();
  const control = await freePort();
  const valgrind = ['--tool=callgrind', ...(FUNCTIONS > 0 ? ['--dump-instr=yes'] : []), `--callgrind-out-file=${dir}/cg.%p`];
  const child = spawn('valgrind', [...valgrind, process.execPath, ...NODE_FLAGS, `${ROOT}dist/server/cli.js`, '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, '--control-url', `tcp://127.0.0.1:${control}`, '--control-token', TOKEN, APP], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TSPUMA_DUMP_DIR: dir },
  });
  const s: Server = { name, child, port, control, dir, stderr: '', windows: [], functions: null };
  child.stderr!.on('data', (c: Buffer) => void (s.stderr.length < 100_000 && (s.stderr += c.toString())));
  const end = Date.now() + 600_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name}: server exited with ${child.exitCode}\n${s.stderr.slice(-2000)}`);
    try {
      // autocannon retries a refused connection for ever: one fetch asks whether it is up.
      if ((await fetch(`http://127.0.0.1:${port}/users/7`)).status === 200) return s;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One window of REQUESTS requests, counted. */
async function window(s: Server, last: boolean): Promise<void> {
  execFileSync('callgrind_control', ['-z', String(s.child.pid)], { stdio: 'ignore' });
  const before = new Set(readdirSync(s.dir));
  await drive(s.port, REQUESTS);
  execFileSync('callgrind_control', ['-d', String(s.child.pid)], { stdio: 'ignore' });
  const fresh = readdirSync(s.dir).filter((f) => f.startsWith('cg.') && !before.has(f));
  if (fresh.length !== 1) throw new Error(`${s.name}: expected one new callgrind dump, found ${fresh.join(', ') || 'none'}`);
  const file = join(s.dir, fresh[0]!);
  const total = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1]);
  s.windows.push(total / REQUESTS);
  if (FUNCTIONS > 0 && last) s.functions = new Map([...selfByFunction(file, readPerfMap(`/tmp/perf-${s.child.pid}.map`))].map(([n, ir]) => [n, ir / REQUESTS] as const));
  rmSync(file);
  process.stderr.write(`${s.name}: window ${s.windows.length}/${WINDOWS}: ${Math.round(s.windows.at(-1)!)} instructions per request\n`);
}

async function main(): Promise<void> {
  const servers: Server[] = [];
  try {
    const never = await boot('never probed');
    servers.push(never);
    const probed = await boot(`${KIND} probe set and removed`);
    servers.push(probed);
    process.stderr.write(`both up under callgrind; ${WARMUP} requests each before the windows\n`);
    const body = KIND === 'log' ? { template: 'user {req.params.id}' } : KIND === 'snapshot' ? { hits: 10, rate: 100 } : {};
    const set = await api(probed.control, 'POST', '/probes', { kind: KIND, location: `${APP}:${HOT}`, by: 'bench', ...body });
    const armed = String((set.workers as Record<string, { at?: string }>)['0']?.at ?? '?');
    if (PROBED > 0) await drive(probed.port, PROBED);
    const view = await api(probed.control, 'GET', `/probes/${set.id as number}`);
    if (view.active !== false) await api(probed.control, 'DELETE', `/probes/${set.id as number}`);
    process.stderr.write(`probe ${set.id as number} (${KIND}, ${armed}): ${view.hitsSeen as number} hit(s) in ${PROBED} requests, removed\n`);
    await Promise.all([drive(never.port, WARMUP), drive(probed.port, Math.max(1, WARMUP - PROBED))]);
    for (let w = 0; w < WINDOWS; w++) for (const s of w % 2 ? [...servers].reverse() : servers) await window(s, w === WINDOWS - 1);
    const a = median(never.windows);
    const b = median(probed.windows);
    const how = /\(([^()]*)/.exec(armed)?.[1] ?? 'a breakpoint';
    console.log(`callgrind: instructions per request of GET /users/7 (examples/express.ts, single mode), median of ${WINDOWS} windows of ${REQUESTS} after ${WARMUP} requests`);
    console.log(`| server | instructions/request | windows |`);
    console.log(`| --- | ---: | --- |`);
    console.log(`| never probed | ${Math.round(a)} | ${never.windows.map(Math.round).join(' ')} |`);
    console.log(`| a ${KIND} probe set (${how}), hit ${view.hitsSeen as number} times in ${PROBED} requests, removed | ${Math.round(b)} | ${probed.windows.map(Math.round).join(' ')} |`);
    console.log(`set and removed / never probed: ${(b / a).toFixed(4)}x (${b >= a ? '+' : ''}${Math.round(b - a)} instructions per request)`);
    if (never.functions && probed.functions) {
      const [x, y] = [never.functions, probed.functions];
      const names = new Set([...x.keys(), ...y.keys()]);
      const diff = [...names].map((n) => [n, (y.get(n) ?? 0) - (x.get(n) ?? 0)] as const).sort((p, q) => Math.abs(q[1]) - Math.abs(p[1]));
      console.log(`\nset and removed - never probed: self instructions per request, the ${FUNCTIONS} largest differences`);
      for (const [n, d] of diff.slice(0, FUNCTIONS)) console.log(`${(d > 0 ? '+' : '') + (Math.round(d * 10) / 10).toString()}`.padStart(10) + `  ${n}`);
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${servers.map((s) => `${s.name}: ${s.stderr.slice(-1500)}`).join('\n')}\n`);
    process.exitCode = 1;
  } finally {
    for (const s of servers) {
      s.child.kill('SIGTERM');
      if (s.child.exitCode === null && s.child.signalCode === null) await new Promise((r) => s.child.once('exit', r));
      rmSync(s.dir, { recursive: true, force: true });
      if (FUNCTIONS > 0) rmSync(`/tmp/perf-${s.child.pid}.map`, { force: true });
    }
  }
}

await main();
