// Attack shapes against a real tspuma process (`npm run adversarial`), each bounded in time and
// count, each printing one readable verdict: the pipelined hang-up freeze (single and -w 2), a
// flood of idle connections to the health port under a low descriptor limit, hostile Host headers
// to a Hono app, and a DevTools console evaluation under -d. Loopback only, port 0, and only the
// processes it started are killed. Exit status: the number of shapes that failed.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import CDP from 'chrome-remote-interface';
import { boot, discoveryUrl, fromLog, killAll, type Booted } from '../helpers/cli.js';
import { rawRequest, sendAndHangUp, statusOf, waitFor } from '../helpers/net.js';

const LOCAL = 'tcp://127.0.0.1:0';
const TOKEN = 'adversarial-token-7c41e9b2d8';
const results: { shape: string; pass: boolean; detail: string }[] = [];

function report(shape: string, pass: boolean, detail: string): void {
  results.push({ shape, pass, detail });
  process.stdout.write(`[${pass ? 'PASS' : 'FAIL'}] ${shape}: ${detail}\n`);
}

async function timedGet(url: string, ms: number): Promise<{ status: number; ms: number } | { error: string; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await res.text();
    return { status: res.status, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { error: (err as Error).name, ms: Math.round(performance.now() - t0) };
  }
}

const PIPELINED = 'GET /sleep HTTP/1.1\r\nHost: t\r\n\r\nGET /sleep HTTP/1.1\r\nHost: t\r\n\r\n';

async function freeze(workers: number): Promise<void> {
  const shape = `freeze: pipelined requests then a hang-up (${workers ? `-w ${workers}` : 'single'}, -t 0:8)`;
  const s = await boot([...(workers ? ['-w', String(workers), '--control-url', LOCAL, '--control-token', TOKEN] : []), '-t', '0:8', '-b', LOCAL, 'test/fixtures/sleep-app.mjs']);
  const port = Number(new URL(s.url).port);
  const connections = workers ? 800 : 40;
  const deadline = Date.now() + 6000;
  let sent = 0;
  while (sent < connections && Date.now() < deadline) {
    await Promise.all(Array.from({ length: 40 }, () => sendAndHangUp(port, PIPELINED)));
    sent += 40;
  }
  const after = await timedGet(`${s.url}/after`, 2000);
  let running = 'n/a';
  if (workers) {
    const control = (await fromLog(s, (l) => (typeof l.controlUrl === 'string' ? l.controlUrl : undefined), 'the control line')).replace('tcp:', 'http:');
    const busy = async () => {
      const stats = (await (await fetch(`${control}/stats?token=${TOKEN}`)).json()) as { worker_status: { last_status: { running: number } }[] };
      return stats.worker_status.reduce((n, w) => n + (w.last_status?.running ?? 0), 0);
    };
    running = String(await waitFor(async () => ((await busy()) === 0 ? '0' : null), 'running back to 0', 8000).catch(async () => busy()));
  }
  const ok = 'status' in after && after.status === 200 && after.ms < 2000 && (running === 'n/a' || running === '0');
  report(shape, ok, `${sent} connections; then a GET ${'status' in after ? `answered ${after.status} in ${after.ms} ms` : `failed (${after.error}) after ${after.ms} ms`}${workers ? `; running ${running}` : ''}`);
  await killAll();
}

async function healthFlood(): Promise<void> {
  const shape = 'health flood: 2,000 idle connections to --health-url with ulimit -n 256, then SIGTTIN';
  const s = await boot(['-w', '1', '-b', LOCAL, '--health-url', LOCAL, '--control-url', LOCAL, '--control-token', TOKEN, 'examples/hello.ts']);
  const health = (await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl : undefined), 'the health line')).replace('tcp:', 'http:');
  execFileSync('prlimit', ['--pid', String(s.proc.pid), '--nofile=256:256']);
  const port = Number(new URL(health).port);
  const held: net.Socket[] = [];
  for (let i = 0; i < 2000; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => undefined);
    held.push(c);
  }
  await new Promise((r) => setTimeout(r, 500)); // bounded: the flood's connects settle
  s.proc.kill('SIGTTIN');
  const booted = await fromLog(s, (l) => (typeof l.msg === 'string' && /- Worker 1 \(PID: \d+\) booted/.test(l.msg) ? true : undefined), 'worker 1 booted', 15_000).catch((err: Error) => err.message.split('\n')[0]);
  for (const c of held) c.destroy();
  const alive = s.proc.exitCode === null && s.proc.signalCode === null;
  const leaked = `${s.stdout()}${s.stderr()}`.includes(TOKEN);
  const refusals = s.lines().filter((l) => typeof l.msg === 'string' && (l.msg.includes('refused a connection') || l.msg.includes('closed the longest-idle connection'))).length;
  report(shape, booted === true && alive && !leaked, `primary ${alive ? 'alive' : `exited (${s.proc.exitCode ?? s.proc.signalCode})`}; respawned worker ${booted === true ? 'booted' : `did not boot (${booted})`}; token ${leaked ? 'PRINTED' : 'never printed'}; ${refusals} throttled refusal or eviction line(s)`);
  await killAll();
}

async function hostile(s: Booted, shape: string, payload: string, wanted: number): Promise<void> {
  const reply = await rawRequest(Number(new URL(s.url).port), payload, 3000);
  const status = statusOf(reply.text);
  const body = reply.text.split('\r\n\r\n')[1]?.slice(0, 60) ?? '';
  report(shape, status === wanted, `status ${Number.isNaN(status) ? 'none' : status} (want ${wanted}); body ${JSON.stringify(body)}`);
}

async function hostShapes(): Promise<void> {
  const s = await boot(['-b', LOCAL, 'examples/hono.ts']);
  await hostile(s, 'Host: t/json/ADMIN? reroutes a Hono app', 'GET /nothing-here HTTP/1.1\r\nHost: t/json/ADMIN?\r\nConnection: close\r\n\r\n', 400);
  await hostile(s, 'Host: t:1/admin/../secret?', 'GET /nothing-here HTTP/1.1\r\nHost: t:1/admin/../secret?\r\nConnection: close\r\n\r\n', 400);
  await hostile(s, 'Host: a b', 'GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n', 400);
  await hostile(s, 'two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n', 400);
  const stacks = s.lines().filter((l) => l.level === 50).length;
  report('Host: no error-log line (stack) for a hostile Host', stacks === 0, `${stacks} error line(s) in the log`);
  await killAll();
}

async function devtoolsEval(): Promise<void> {
  const shape = 'DevTools console `undefinedThing + 1` under -d --inspect';
  const s = await boot(['-d', '--inspect=127.0.0.1:0', '-b', LOCAL, 'examples/hello.ts']);
  const base = await discoveryUrl(s);
  const list = (await (await fetch(`${base}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const client = await CDP({ target: list[0]!.webSocketDebuggerUrl });
  try {
    await client.Runtime.enable();
    const t0 = performance.now();
    const evaluated = await Promise.race([
      client.Runtime.evaluate({ expression: 'undefinedThing + 1', replMode: true }).then((r) => `returned ${r.exceptionDetails ? 'a ReferenceError' : 'a value'}`),
      new Promise<string>((r) => setTimeout(() => r('did not return within 3 s'), 3000)),
    ]);
    const ms = Math.round(performance.now() - t0);
    const served = await timedGet(s.url, 2000);
    const ok = evaluated.startsWith('returned') && 'status' in served && served.status === 200;
    report(shape, ok, `evaluation ${evaluated} (${ms} ms); a request meanwhile ${'status' in served ? `answered ${served.status} in ${served.ms} ms` : `failed (${served.error})`}`);
  } finally {
    await client.close().catch(() => undefined);
    await killAll();
  }
}

const shapes: [string, () => Promise<void>][] = [
  ['freeze single', () => freeze(0)],
  ['freeze -w 2', () => freeze(2)],
  ['health flood', healthFlood],
  ['Host', hostShapes],
  ['DevTools evaluation', devtoolsEval],
];
const only = process.argv[2];
for (const [name, run] of shapes) {
  if (only && !name.includes(only)) continue;
  try {
    await run();
  } catch (err) {
    report(name, false, `the shape itself failed: ${(err as Error).message.split('\n')[0]}`);
    await killAll();
  }
}
const failed = results.filter((r) => !r.pass).length;
process.stdout.write(`\n${results.length - failed} of ${results.length} shapes held${failed ? `; ${failed} did not` : ''}\n`);
process.exit(failed);
