// Integration: a cluster's listening sockets belong to the primary for its whole life (Puma's
// model): with one worker, connections made while it is being replaced wait in the backlog and
// are answered by the replacement, a port-0 bind keeps its port across respawns and restarts,
// and a unix socket's file lives until the primary stops.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, fromLog, killAll, run, ROOT, type Spawned } from '../helpers/cli.js';
import { get, SLOWNESS, waitFor } from '../helpers/net.js';
import { ownedByTest } from '../helpers/processes.js';

// Each case runs a cluster of its own and mostly waits on it (a held boot, a respawn, restarts, a
// stop): they run side by side (each group { concurrent: true }), each ending its own (ownedByTest).
// In turn the file took 6.2 s of a quiet run's wall for 1.9 s of CPU.
afterAll(killAll);

const APP = join(ROOT, 'test/fixtures/cluster-app.mjs');
/** Answers `pid N` as APP does; its /slow?until=PATH holds a request until the test writes PATH. */
const GATED = join(ROOT, 'test/fixtures/apps/gated-boot-app.mjs');

/**
 * A config whose workers wait in beforeWorkerBoot while the file `hold` exists: a replacement
 * worker held there has not listened yet, which is the window this file is about (made as long
 * as the test needs instead of racing the respawn).
 */
function heldConfig(dir: string, hold: string, workerShutdownTimeout = 5 * SLOWNESS, thenFail = false): string {
  const config = join(dir, 'tspuma.config.mjs');
  const fail = thenFail ? ` throw new Error('no DATABASE_URL');` : '';
  writeFileSync(
    config,
    `import { existsSync } from 'node:fs';\n` +
      `export default { workerCheckInterval: 0.5, workerShutdownTimeout: ${workerShutdownTimeout}, beforeWorkerBoot: async () => { while (existsSync(${JSON.stringify(hold)})) await new Promise((r) => setTimeout(r, 20));${fail} } };\n`,
  );
  return config;
}

/** The primary's line for each bind it listens on before any worker boots: its URL and backlog. */
function boundBefore(s: Spawned): Promise<{ url: string; backlog: number }> {
  return fromLog(s, (l) => (typeof l.bind === 'string' && typeof l.backlog === 'number' ? { url: l.bind, backlog: l.backlog } : undefined), 'the line of the bind the primary listens on', 20_000);
}

type Target = { port: number } | { path: string };

/**
 * Connects to `target`; resolves 'connected' once the kernel completed the connection (it is in
 * the listen backlog if no one accepted yet) or the error code (ECONNREFUSED, ENOENT).
 */
function connect(target: Target): Promise<{ outcome: string; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.path);
    socket.once('connect', () => resolve({ outcome: 'connected', socket }));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ outcome: err.code ?? String(err), socket }));
  });
}

/** Sends GET / with Connection: close on a connected socket; resolves with what came back (bounded in time). */
function ask(socket: net.Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${text}[no answer within ${timeoutMs} ms]`);
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', (err: NodeJS.ErrnoException) => (text += `[${err.code}]`));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  });
}

/** The pids of the worker lines "- Worker 0 (PID: N) booted" so far. */
function bootedPids(out: string): number[] {
  return [...out.matchAll(/- Worker 0 \(PID: (\d+)\) booted/g)].map((m) => Number(m[1]));
}

describe('the primary listens before its first workers boot (T5)', { concurrent: true }, () => {
  it('-w 1: a connection made while the first worker of a fresh start is still booting (a supervisor restarting tspuma) is queued, not refused, and answered once it booted; /ready is 503 meanwhile', { timeout: 120_000 * SLOWNESS }, async (ctx) => {
    const mine = ownedByTest(ctx, 'kept');
    const dir = mine.tempDir();
    const hold = join(dir, 'hold');
    writeFileSync(hold, '');
    const s = mine.adopt(run(['-C', heldConfig(dir, hold), '-w', '1', '-b', 'tcp://127.0.0.1:0?backlog=64', '--health-url', 'tcp://127.0.0.1:0', APP]));
    const bound = await boundBefore(s);
    expect(bound.backlog).toBe(64);
    const health = await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl.replace(/^tcp:/, 'http:') : undefined), 'the health line');
    await waitFor(() => s.lines().some((l) => /^- Worker 0 \(PID: \d+\) booting, phase 0$/.test(String(l.msg))), 'worker 0 to be forked', 20_000);
    const tries = [];
    for (let i = 0; i < 3; i++) tries.push(await connect({ port: Number(new URL(bound.url).port) }));
    expect(tries.map((t) => t.outcome)).toEqual(Array(3).fill('connected'));
    const ready = await get(`${health}/ready`);
    expect([ready.status, (JSON.parse(ready.body) as { status: string }).status]).toEqual([503, 'booting']);
    expect(bootedPids(s.stdout())).toEqual([]); // still held: nothing has served yet
    const answers = tries.map((t) => ask(t.socket, 60_000 * SLOWNESS));
    rmSync(hold);
    const worker = await waitFor(() => bootedPids(s.stdout())[0], 'worker 0 to boot', 30_000);
    for (const a of await Promise.all(answers)) expect(a).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*\\r\\n\\r\\npid ${worker}\\n$`));
    expect((await get(`${health}/ready`)).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('a first boot that fails for good (TSPUMA_ERR_WORKER_BOOT): the connections queued meanwhile are reset when the primary gives up, never left hanging', { timeout: 120_000 * SLOWNESS }, async (ctx) => {
    const mine = ownedByTest(ctx, 'kept');
    const dir = mine.tempDir();
    const hold = join(dir, 'hold');
    writeFileSync(hold, '');
    const s = mine.adopt(run(['-C', heldConfig(dir, hold, 5 * SLOWNESS, true), '-w', '1', '-b', 'tcp://127.0.0.1:0', APP]));
    const bound = await boundBefore(s);
    await waitFor(() => s.lines().some((l) => /^- Worker 0 \(PID: \d+\) booting, phase 0$/.test(String(l.msg))), 'worker 0 to be forked', 20_000);
    const queued = await connect({ port: Number(new URL(bound.url).port) });
    expect(queued.outcome).toBe('connected');
    const answer = ask(queued.socket, 90_000 * SLOWNESS);
    rmSync(hold); // every boot now fails: 3 attempts (1 s, 2 s backoff), then the primary gives up
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain('TSPUMA_ERR_WORKER_BOOT');
    expect(await answer).toBe('[ECONNRESET]');
  });
});

describe('the primary keeps the listening sockets', { concurrent: true }, () => {
  // One server bound both ways (a server of each kind cost a -w 1 boot and a respawn more): the
  // window is the same for every listener the primary holds.
  it("-w 1 (a tcp and a unix bind): connections made to each while the only worker's replacement is not listening yet all connect (none refused) and are answered by the replacement", { timeout: 120_000 * SLOWNESS }, async (ctx) => {
    const mine = ownedByTest(ctx, 'kept');
    const dir = mine.tempDir();
    const hold = join(dir, 'hold');
    const sock = join(dir, 'web.sock');
    const s = mine.adopt(await boot(['-C', heldConfig(dir, hold), '-w', '1', '-b', 'tcp://127.0.0.1:0', '-b', `unix://${sock}?mode=0660`, APP]));
    const targets: Target[] = [{ port: Number(new URL(s.url).port) }, { path: sock }];
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    const [first] = bootedPids(s.stdout());
    // The replacement will wait before loading the app (before it listens) until `hold` goes.
    writeFileSync(hold, '');
    process.kill(first!, 'SIGKILL');
    // The primary has seen the death and forked the replacement (held): no worker listens now.
    await waitFor(() => {
      const msgs = s.lines().map((l) => String(l.msg));
      const died = msgs.findIndex((m) => m.startsWith(`Worker 0 (PID: ${first}) died (SIGKILL); respawning`));
      return died !== -1 && msgs.slice(died).some((m) => /^- Worker 0 \(PID: \d+\) booting, phase 0$/.test(m));
    }, 'the replacement to be forked', 15_000);
    // A bounded client loop in the window: 5 connections to each listener, each answered or failed within the bound.
    const tries = [];
    for (const target of targets) for (let i = 0; i < 5; i++) tries.push(await connect(target));
    expect(bootedPids(s.stdout())).toEqual([first]); // still in the window: the replacement has not booted
    rmSync(hold);
    const answers = await Promise.all(tries.map((t) => (t.outcome === 'connected' ? ask(t.socket, 30_000 * SLOWNESS) : Promise.resolve(''))));
    const replacement = await waitFor(() => bootedPids(s.stdout())[1], 'the replacement to boot', 30_000);
    expect(replacement).not.toBe(first);
    expect(tries.map((t) => t.outcome)).toEqual(Array(10).fill('connected'));
    for (const a of answers) expect(a).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*\\r\\n\\r\\npid ${replacement}\\n$`));
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(sock)).toBe(false); // removed by the primary at its stop
  });

  // One server for the port kept through every kind of replacement and for the hot restart after
  // the config's bind changed (a -w 1 boot of its own for that cost one boot more): the bind is the
  // config's, so the last restart's worker reads a changed one.
  it("a tcp://127.0.0.1:0 bind (the config's) keeps its port (and the state file stays true) across a worker respawn, a phased restart and a hot restart after the config's bind changed, whose new worker says which binds changed and that a stop and start changes them", { timeout: 150_000 * SLOWNESS }, async (ctx) => {
    const mine = ownedByTest(ctx, 'kept');
    const dir = mine.tempDir();
    const state = join(dir, 'tspuma.state');
    const config = join(dir, 'tspuma.config.mjs');
    // workerShutdownTimeout 5 s scaled (SLOWNESS) in both configs: a bound on the idle old workers' stops.
    writeFileSync(config, `export default { workerCheckInterval: 0.5, workerShutdownTimeout: ${5 * SLOWNESS}, bind: 'tcp://127.0.0.1:0' };\n`);
    const s = mine.adopt(await boot(['-C', config, '-w', '1', '-S', state, APP]));
    const urls = () => (JSON.parse(readFileSync(state, 'utf8')) as { urls: string[] }).urls;
    await waitFor(() => existsSync(state) && urls().length === 1, 'the state file with its URL', 15_000);
    expect(urls()).toEqual([s.url]);
    const pidOn = async () => {
      const r = await get(s.url).catch(() => null);
      return r?.status === 200 ? Number(/^pid (\d+)/.exec(r.body)?.[1]) : null;
    };
    const first = await waitFor(pidOn, `a worker answering on ${s.url}`);
    process.kill(first, 'SIGKILL');
    const respawned = await waitFor(async () => {
      const pid = await pidOn();
      return pid !== null && pid !== first ? pid : null;
    }, `the respawned worker answering on ${s.url}`, 20_000, 100);
    s.proc.kill('SIGUSR1');
    await waitFor(() => /- Phased restart finished, phase 1/.test(s.stdout()), 'the phased restart to finish', 30_000);
    const phased = await waitFor(pidOn, `the phase 1 worker answering on ${s.url}`);
    expect(phased).not.toBe(respawned);
    expect(s.lines().filter((l) => String(l.msg).startsWith("The config's binds changed"))).toEqual([]);
    writeFileSync(config, `export default { workerCheckInterval: 0.5, workerShutdownTimeout: ${5 * SLOWNESS}, bind: 'unix://${join(dir, 'new.sock')}' };\n`);
    s.proc.kill('SIGUSR2');
    await waitFor(() => /- Hot restart finished, phase 2/.test(s.stdout()), 'the hot restart to finish', 30_000);
    const hot = await waitFor(pidOn, `the phase 2 worker answering on ${s.url}`);
    expect(hot).not.toBe(phased);
    expect(urls()).toEqual([s.url]);
    const warning = s.lines().find((l) => String(l.msg).startsWith("The config's binds changed"));
    expect(warning).toMatchObject({ level: 40, worker: 0, added: [`unix://${join(dir, 'new.sock')}`], removed: ['tcp://127.0.0.1:0'] });
    expect(String(warning!.msg)).toContain('stop and start tspuma to change them');
    expect(existsSync(join(dir, 'new.sock'))).toBe(false);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('at SIGTERM the primary lets go of the socket: while a request in flight finishes, a new connection is refused rather than left waiting in a backlog no one accepts from', async (ctx) => {
    const mine = ownedByTest(ctx, 'kept');
    const dir = mine.tempDir();
    // workerShutdownTimeout 60 s, a bound (the worker exits once its request is answered): at 5 s, as
    // long as the request, a loaded machine's late timer let the kill cut it (1 full run in 2 at load 9).
    const s = mine.adopt(await boot(['-C', heldConfig(dir, join(dir, 'never'), 60), '-w', '1', '-b', 'tcp://127.0.0.1:0', GATED]));
    const port = Number(new URL(s.url).port);
    const first = await connect({ port });
    expect(first.outcome).toBe('connected');
    first.socket.setEncoding('utf8');
    let slow = '';
    first.socket.on('data', (c: string) => (slow += c));
    // Held in the app until the test has seen the refusal (a file it writes), not for a guessed 5 s.
    const release = join(dir, 'release');
    first.socket.write(`GET /slow?ms=50000&until=${release} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    // Accepted in order: once a later connection is answered, the slow one is in the worker.
    expect((await get(s.url)).status).toBe(200);
    s.proc.kill('SIGTERM');
    await waitFor(() => s.lines().some((l) => /^- Worker 0 \(PID: \d+\) stopping/.test(String(l.msg))), 'the worker to start stopping', 15_000);
    const late = await waitFor(async () => {
      const { outcome, socket } = await connect({ port });
      socket.destroy();
      return outcome === 'connected' ? null : { outcome, slow };
    }, 'a new connection to be refused', 15_000);
    // Refused while the slow request was still in the worker (not only once the primary had exited).
    expect(late).toEqual({ outcome: 'ECONNREFUSED', slow: '' });
    writeFileSync(release, '');
    await waitFor(() => /\r\n\r\npid \d+\n$/.test(slow), 'the slow request to be answered', 15_000);
    expect(slow).toMatch(/^HTTP\/1\.1 200 /);
    expect(await s.exited).toBe(0);
  });
});
