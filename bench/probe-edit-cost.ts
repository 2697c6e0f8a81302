// What setting and removing a probe costs the workers of a `-w 2` Express cluster
// (examples/express.ts, issue 31): the live edits V8 was asked for (`Debugger.setScriptSource`,
// each a walk of the whole heap: test/README.md "Probes and live edit"), their milliseconds, and the
// workers' CPU time, per probe lifecycle (set, answered armed, removed). Counted from the workers'
// debug lines (`Probes: live edit of …`, inspector/probe-live-edit.ts), CPU from /proc/PID/stat of
// the primary's children. Each kind of probe is set and removed CYCLES times on the route's hot line:
// alone (the worker's probe engine starts with the set and closes after the removal), and beside a
// probe kept set on another line (the engine stays). Run alternately against two builds (BASE=dir
// of another checkout's root) to compare. `node dist/bench/probe-edit-cost.js`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CYCLES = Number(process.env.CYCLES ?? 6);
const TOKEN = 'bench-probe-edit-cost-token-0123456789';
const APP = `${ROOT}examples/express.ts`;
const lineOf = (text: string): number => readFileSync(APP, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;
const HOT = lineOf('res.json({ id: Number(req.params.id)');
const OTHER = lineOf("res.type('text/plain')");

interface Cluster {
  root: string;
  proc: ChildProcess;
  port: number;
  control: number;
  out: string;
}

async function start(root: string): Promise<Cluster> {
  const port = await freePort();
  const control = await freePort();
  const proc = spawn(process.execPath, [`${root}dist/server/cli.js`, '-w', '2', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, '--control-url', `tcp://127.0.0.1:${control}`, '--control-token', TOKEN, APP], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TSPUMA_LOG_LEVEL: 'debug', TSPUMA_DUMP_DIR: mkdtempSync(join(tmpdir(), 'tspuma-bench-edit-cost-')) },
  });
  const c: Cluster = { root, proc, port, control, out: '' };
  let partial = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.includes('live edit of') || line.includes('Use Ctrl-C')) c.out += `${line}\n`;
  });
  const end = Date.now() + 60_000;
  while (!c.out.includes('Use Ctrl-C') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (!c.out.includes('Use Ctrl-C')) throw new Error(`${root}: did not boot`);
  return c;
}

async function api(c: Cluster, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${c.control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

/** CPU seconds the primary's children (the workers) have used, from /proc. */
function workersCpu(primary: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[1]) !== primary) continue;
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

/** Live edits in the lines since `from`: count, refused, and their milliseconds. */
function edits(c: Cluster, from: number): { edits: number; refused: number; ms: number } {
  let n = 0;
  let refused = 0;
  let ms = 0;
  for (const line of c.out.slice(from).split('\n')) {
    if (!line.includes('live edit of')) continue;
    n++;
    if (line.includes('refused')) refused++;
    ms += (JSON.parse(line) as { liveEditMs?: number }).liveEditMs ?? 0;
  }
  return { edits: n, refused, ms };
}

const QUIET_MS = Number(process.env.QUIET_MS ?? 1500);

/** Resolves once no live-edit line has come for QUIET_MS (at most 30 s). */
async function quiet(c: Cluster): Promise<void> {
  const end = Date.now() + 30_000;
  let seen = c.out.length;
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < QUIET_MS) {
    await new Promise((r) => setTimeout(r, 100));
    if (c.out.length !== seen) {
      seen = c.out.length;
      since = Date.now();
    }
  }
}

async function requests(c: Cluster, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await (await fetch(`http://127.0.0.1:${c.port}/users/${i}`)).text();
}

/** Lines of examples/express.ts a probe can be compiled into (the hot one first): "a new line each lifecycle" takes them in turn. */
const LINES = [HOT, ...['res.json({ received', 'const percent = COUPONS', 'if (percent === undefined)', 'return (subtotal * percent)', 'let subtotal = 0;', 'const discount = coupon', 'const order = {'].map(lineOf)];

interface Scenario {
  keep: boolean;
  name: string;
  body: Record<string, unknown>;
  /** A new line each lifecycle (else the hot line every time). */
  rotate?: boolean;
}

const SCENARIOS: Scenario[] = [
  { keep: false, name: 'count', body: { kind: 'count' } },
  { keep: false, name: 'log, template compiled', body: { kind: 'log', template: 'user {req.params.id}' } },
  { keep: false, name: 'log, --when compiled', body: { kind: 'log', template: 'user {req.params.id}', when: 'req.params.id === "7"' } },
  { keep: false, name: 'count, a new line each', body: { kind: 'count' }, rotate: true },
  { keep: true, name: 'count', body: { kind: 'count' } },
  { keep: true, name: 'count, a new line each', body: { kind: 'count' }, rotate: true },
];

async function main(): Promise<void> {
  const roots = [ROOT, ...(process.env.BASE ? [process.env.BASE.replace(/\/?$/, '/')] : [])];
  const only = process.env.ONLY ? process.env.ONLY.split(',').map(Number) : null;
  for (const [index, { keep, name, body, rotate }] of SCENARIOS.entries()) {
    if (only && !only.includes(index)) continue;
    for (const root of roots) {
      const c = await start(root);
      try {
        await requests(c, 50);
        let kept: number | null = null;
        if (keep) kept = (await api(c, 'POST', '/probes', { kind: 'count', location: `${APP}:${OTHER}`, for: 3600, by: 'bench' })).id as number;
        await quiet(c);
        const from = c.out.length;
        const cpu0 = workersCpu(c.proc.pid!);
        const setMs: number[] = [];
        const rmMs: number[] = [];
        let at = '';
        for (let i = 0; i < CYCLES; i++) {
          let t = performance.now();
          const set = await api(c, 'POST', '/probes', { ...body, location: `${APP}:${rotate ? LINES[i % LINES.length] : HOT}`, for: 3600, by: 'bench' });
          setMs.push(performance.now() - t);
          at = String((set.workers as Record<string, { at?: string }>)['0']?.at ?? '?').replace(/^.*, /, '');
          await requests(c, 4);
          t = performance.now();
          await api(c, 'DELETE', `/probes/${set.id as number}`);
          rmMs.push(performance.now() - t);
          // The primary answers a removal before the workers have done it (and the engine closes
          // after its last probe's: server/probe-host.ts): the lifecycle ends when no edit line has
          // come for QUIET_MS.
          await quiet(c);
        }
        const cpu = workersCpu(c.proc.pid!) - cpu0;
        const e = edits(c, from);
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const row = `${(keep ? 'beside a kept probe' : 'alone').padEnd(20)} ${name.padEnd(24)} ${root === ROOT ? 'this build' : 'base'}: ${(e.edits / CYCLES).toFixed(2)} edits/lifecycle (${e.refused} refused), ${(e.ms / CYCLES).toFixed(1)} ms of edits/lifecycle (2 workers), workers' CPU ${((cpu / CYCLES) * 1000).toFixed(0)} ms/lifecycle, set answer p50 ${med(setMs).toFixed(0)} ms, rm answer p50 ${med(rmMs).toFixed(0)} ms; armed: ${at}`;
        process.stdout.write(`${row}\n`);
        if (process.env.VERBOSE) process.stdout.write(c.out.slice(from));
        if (kept !== null) await api(c, 'DELETE', `/probes/${kept}`);
      } finally {
        c.proc.kill('SIGTERM');
        await new Promise((r) => c.proc.once('exit', r));
      }
    }
  }
  process.stdout.write(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
}

await main();
