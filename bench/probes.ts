// `npm run bench:probes`: what probes cost. Five `tspuma -w 1` servers of examples/express.ts run
// at once under the same GET /users/:id load, in alternating bursts: one never had a probe (the
// probe code is not loaded), one had a probe set and removed (loaded, nothing armed), one has a
// logpoint on the route's hot line whose condition is false, one a logpoint on it that fires on
// every request (logging at its rate limit), one a hit counter there (no condition). Then a snapshot probe on the same line gives the
// capture time (the thread held per snapshot) as p50/p99. Each round runs every server once, in an
// order that rotates; a server's ratio is the median, over rounds, of its req/s against the no-probe
// server's in the same round, with the spread (lowest and highest quarter) beside it, so a burst the
// machine slowed is one round's outlier rather than a shift of the whole sum. Beside each ratio, the
// same from the worker's CPU time per request (/proc/PID/stat, read around each burst): the no-probe
// server's per request over this one's, in the same round, so above 1 is cheaper; a process the
// machine's other work keeps off a core loses requests a second, much less CPU per request, so this
// one moves less with the load. Writes bench/results/probes.json.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DURATION = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const TOKEN = 'bench-probes-token-0123456789';
const APP = `${ROOT}examples/express.ts`;
const HOT = readFileSync(APP, 'utf8').split('\n').findIndex((l) => l.includes('res.json({ id: Number(req.params.id)')) + 1;

interface Server {
  name: string;
  target: number | null;
  proc: ChildProcess;
  port: number;
  control: number;
  out: string;
  requests: number;
  seconds: number;
  /** req/s in each round. */
  perRound: number[];
  /** The worker's pid (from its boot line) and its CPU µs per request in each round. */
  workerPid: number;
  cpuPerRound: number[];
}

/** A process's CPU time (user + system), ms, from /proc (10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function start(name: string, target: number | null): Promise<Server> {
  const port = await freePort();
  const control = await freePort();
  const proc = spawn(process.execPath, [`${ROOT}dist/server/cli.js`, '-w', '1', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, '--control-url', `tcp://127.0.0.1:${control}`, '--control-token', TOKEN, APP], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // probeLiveEdit (the default): the probes' gates, and the false --when, are compiled in.
    env: { ...process.env, TSPUMA_DUMP_DIR: mkdtempSync(join(tmpdir(), 'tspuma-bench-probes-')) },
  });
  const s: Server = { name, target, proc, port, control, out: '', requests: 0, seconds: 0, perRound: [], workerPid: 0, cpuPerRound: [] };
  // Only probe lines are kept: the request log of a long run would fill memory. A line a chunk
  // ends inside is kept for the next chunk (read as two halves, neither would be counted).
  let partial = '';
  proc.stdout!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"probe"') || line.includes('Use Ctrl-C')) s.out += `${line}\n`;
      const worker = /Worker 0 \(PID: (\d+)\) booting/.exec(line);
      if (worker) s.workerPid = Number(worker[1]);
    }
  });
  const end = Date.now() + 30_000;
  while (!s.out.includes('Use Ctrl-C') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (!s.out.includes('Use Ctrl-C') || s.workerPid === 0) throw new Error(`${name} did not boot (or its worker's pid was not logged)`);
  return s;
}

async function api(s: Server, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${s.control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${s.name}: ${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

function burst(s: Server, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url: `http://127.0.0.1:${s.port}/users/7`, connections: CONNECTIONS, duration: seconds });
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

async function main(): Promise<void> {
  const servers = [
    await start('no probe (probe code not loaded)', null),
    await start('a probe set and removed', 0.99),
    await start('logpoint, condition false', 0.9),
    await start('logpoint firing every request (at its rate limit)', 0.8),
    await start('hit counter, no condition (every request counted)', null),
  ];
  const [, removed, falseCond, firing, counter] = servers as [Server, Server, Server, Server, Server];
  try {
    const at = `${APP}:${HOT}`;
    const set = await api(removed, 'POST', '/probes', { kind: 'count', location: at, by: 'bench' });
    await api(removed, 'DELETE', `/probes/${set.id as number}`);
    // How each is armed: a V8 breakpoint, or the gate compiled in by live edit (a probe with no --when).
    const armed = (view: Record<string, unknown>) => String((view.workers as Record<string, { at?: string }>)['0']?.at ?? '?').replace(/^.*, /, '');
    const falseView = await api(falseCond, 'POST', '/probes', { kind: 'log', location: at, template: 'user {req.params.id}', when: 'req.params.id === "never"', for: 86400, by: 'bench' });
    const how = [
      `condition false: ${armed(falseView)}`,
      `firing: ${armed(await api(firing, 'POST', '/probes', { kind: 'log', location: at, template: 'user {req.params.id}', for: 86400, by: 'bench' }))}`,
      `counter: ${armed(await api(counter, 'POST', '/probes', { kind: 'count', location: at, for: 86400, by: 'bench' }))}`,
    ];
    for (const s of servers) await burst(s, 1); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + round) % servers.length]!;
        const cpuBefore = cpuMs(s.workerPid);
        const r = await burst(s, DURATION);
        s.cpuPerRound.push(((cpuMs(s.workerPid) - cpuBefore) * 1000) / Math.max(1, r.requests.total));
        s.requests += r.requests.total;
        s.seconds += DURATION;
        s.perRound.push(r.requests.total / DURATION);
      }
    }
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const rows = servers.map((s) => {
      const ratios = s.perRound.map((rps, i) => rps / servers[0]!.perRound[i]!);
      const ratio = quantile(ratios, 0.5);
      const cpuRatios = s.cpuPerRound.map((us, i) => servers[0]!.cpuPerRound[i]! / us);
      const cpu = { usPerRequest: Math.round(quantile(s.cpuPerRound, 0.5)), ratio: r3(quantile(cpuRatios, 0.5)), spread: [r3(quantile(cpuRatios, 0.25)), r3(quantile(cpuRatios, 0.75))] };
      return { name: s.name, reqPerSec: Math.round(quantile(s.perRound, 0.5)), ratio: r3(ratio), spread: [r3(quantile(ratios, 0.25)), r3(quantile(ratios, 0.75))], target: s.target, ok: s.target === null ? null : ratio >= s.target, cpu };
    });
    const logged = firing.out.split('\n').filter((l) => l.includes('"values"')).length;
    // What the firing logpoint may write: at most 100 within any second (inspector/probe-rate.ts), so
    // 100 a started second of each burst it was loaded for (the warm-up's 1 s and each round's), and
    // the requests in flight as a burst ends (one a connection).
    const bursts = [1, ...Array.from({ length: ROUNDS }, () => DURATION)];
    const loggedMax = bursts.reduce((n, seconds) => n + 100 * Math.ceil(seconds) + CONNECTIONS, 0);
    // One suspension is two lines, the worker's and the primary's (`(worker PID: …)`): the worker's are counted.
    const suspensions = (s: Server) => s.out.split('\n').filter((l) => l.includes('TSPUMA_ERR_PROBE_BUDGET') && !l.includes('(worker PID')).length;
    const firingSuspensions = suspensions(firing);
    // The false condition must stay armed over the whole run (a breakpoint's was suspended by the pause budget within a second).
    const falseState = String((((await api(falseCond, 'GET', `/probes/${falseView.id as number}`)).workers as Record<string, { state?: string }>)['0']?.state) ?? '?');
    const falseSuspensions = suspensions(falseCond);
    // Snapshot capture time, as each snapshot's line says (pausedMs): up to 100 a second for 3 s.
    const snap = await api(firing, 'POST', '/probes', { kind: 'snapshot', location: at, hits: 300, rate: 100, for: 60, by: 'bench' });
    await burst(firing, 3);
    await api(firing, 'DELETE', `/probes/${snap.id as number}`).catch(() => undefined);
    const ms = firing.out
      .split('\n')
      .filter((l) => l.includes('snapshot written'))
      .map((l) => (JSON.parse(l) as { pausedMs: number }).pausedMs);
    const snapshot = { count: ms.length, p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99) };
    process.stdout.write(`probes on examples/express.ts:${HOT} (GET /users/7, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s bursts, -w 1 each)\n`);
    process.stdout.write(`  (req/s: the median round; ratio: the median of the rounds' ratios to the no-probe server, [lower quartile, upper quartile]; cpu: the worker's CPU µs per request, median round, and the no-probe server's over it, the same way)\n`);
    for (const r of rows) process.stdout.write(`  ${r.name.padEnd(50)} ${String(r.reqPerSec).padStart(7)} req/s  ${r.ratio.toFixed(3)}x [${r.spread[0]!.toFixed(3)}, ${r.spread[1]!.toFixed(3)}]${r.target === null ? '' : `  (target >= ${r.target}x: ${r.ok ? 'met' : 'NOT met'})`}  cpu ${r.cpu.usPerRequest} µs/req ${r.cpu.ratio.toFixed(3)}x [${r.cpu.spread[0]!.toFixed(3)}, ${r.cpu.spread[1]!.toFixed(3)}]\n`);
    process.stdout.write(`  logpoint lines written by the firing server: ${logged} of at most ${loggedMax} (its rate limit: 100 within any second, over ${bursts.length} bursts, ${firing.seconds + 1} s of load), ${firingSuspensions} pause-budget suspension(s)\n`);
    process.stdout.write(`  condition-false logpoint after the run: ${falseState}, ${falseSuspensions} pause-budget suspension(s)\n`);
    for (const h of how) process.stdout.write(`  armed: ${h}\n`);
    process.stdout.write(`  snapshot capture (thread held per snapshot): ${snapshot.count} snapshots, p50 ${snapshot.p50Ms} ms, p99 ${snapshot.p99Ms} ms\n`);
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(`${ROOT}bench/results/probes.json`, `${JSON.stringify({ time: new Date().toISOString(), node: process.version, line: HOT, rows, rounds: ROUNDS, burstSeconds: DURATION, logged, loggedMax, firingSuspensions, falseCondition: { state: falseState, suspensions: falseSuspensions }, armed: how, snapshot }, null, 2)}\n`);
  } finally {
    for (const s of servers) s.proc.kill('SIGTERM');
  }
}

await main();
