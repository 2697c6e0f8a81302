// `node dist/bench/probe-firing-cpu.js`: what a logpoint that fires on every request costs the
// server, in CPU time per request (the process's user+system time from /proc over a fixed number of
// requests: a busy machine slows the wall clock, not the CPU a request takes). Single-mode servers
// of examples/express.ts: no probe; a logpoint on the route's hot line (its template compiled into
// the gate: no pause); with BASE=/path/to/another/built/checkout, the same logpoint on that code
// too (before the template was compiled: its gate compiled in, each hit paused for V8 to read the
// template). Every request fires the logpoint: its rate limit raised, the requests sent at RATE a
// second (200: a pausing hit of a few ms stays within a pause budget raised to 1,000 ms a second,
// so neither is suspended), ROUNDS rounds of REQUESTS each, the servers in turn; medians. The
// difference to the no-probe server is what a hit costs.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = `${ROOT}examples/express.ts`;
const HOT = readFileSync(APP, 'utf8').split('\n').findIndex((l) => l.includes('res.json({ id: Number(req.params.id)')) + 1;
const REQUESTS = Number(process.env.REQUESTS ?? 1000);
const RATE = Number(process.env.RATE ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const TOKEN = 'bench-probe-firing-token-0123456789';
const TICK_MS = 1000 / 100; // USER_HZ

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
  dir: string;
  perRequestUs: number[];
  out: string;
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function boot(name: string, probe: boolean, root = ROOT): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'tspuma-probe-firing-'));
  writeFileSync(join(dir, 'c.mjs'), 'export default { probePauseBudget: 1000 };\n');
  const port = await freePort();
  const control = await freePort();
  const child = spawn(process.execPath, [`${root}dist/server/cli.js`, '-C', join(dir, 'c.mjs'), '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, '--control-url', `tcp://127.0.0.1:${control}`, '--control-token', TOKEN, APP], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TSPUMA_DUMP_DIR: dir },
  });
  const s: Server = { name, child, port, dir, perRequestUs: [], out: '' };
  let partial = '';
  child.stdout!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.includes('"values"') || l.includes('Use Ctrl-C')) s.out += `${l.slice(0, 300)}\n`;
  });
  const end = Date.now() + 60_000;
  while (!s.out.includes('Use Ctrl-C')) {
    if (Date.now() > end) throw new Error(`${name} did not boot`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (probe) {
    const res = await fetch(`http://127.0.0.1:${control}/probes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'log', location: `${APP}:${HOT}`, template: 'user {req.params.id}', rate: 10_000, for: 86_400, by: 'bench' }),
    });
    const view = (await res.json()) as { workers?: Record<string, { at?: string }> };
    process.stderr.write(`${name}: ${view.workers?.['0']?.at ?? JSON.stringify(view)}\n`);
  }
  return s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const servers: Server[] = [];
  try {
    servers.push(await boot('no probe', false), await boot('logpoint firing every request', true));
    if (process.env.BASE) servers.push(await boot(`the same logpoint on ${process.env.BASE}`, true, `${process.env.BASE.replace(/\/$/, '')}/`));
    for (const s of servers) await autocannon({ url: `http://127.0.0.1:${s.port}/users/7`, connections: 10, amount: REQUESTS });
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 ? [...servers].reverse() : servers) {
        const before = cpuMs(s.child.pid!);
        const res = await autocannon({ url: `http://127.0.0.1:${s.port}/users/7`, connections: 10, amount: REQUESTS, overallRate: RATE });
        if (res.non2xx > 0 || res.errors > 0) throw new Error(`${s.name}: ${res.non2xx} non-2xx, ${res.errors} errors`);
        s.perRequestUs.push(((cpuMs(s.child.pid!) - before) * 1000) / REQUESTS);
      }
    }
    const base = median(servers[0]!.perRequestUs);
    console.log(`CPU time per request (user+system of the server process, /proc), median of ${ROUNDS} rounds of ${REQUESTS} GET /users/7 at ${RATE}/s, examples/express.ts:${HOT}, single mode`);
    console.log('| server | µs CPU per request | rounds | a hit costs (µs) | lines logged |');
    console.log('| --- | ---: | --- | ---: | ---: |');
    for (const s of servers) {
      const m = median(s.perRequestUs);
      const lines = s.out.split('\n').filter((l) => l.includes('"values"'));
      const paused = lines.filter((l) => l.includes('"paused":false')).length;
      console.log(`| ${s.name} | ${Math.round(m)} | ${s.perRequestUs.map(Math.round).join(' ')} | ${s === servers[0] ? '' : Math.round(m - base)} | ${lines.length}${lines.length ? ` (${paused} with no pause)` : ''} |`);
    }
  } finally {
    for (const s of servers) {
      s.child.kill('SIGTERM');
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

await main();
