// Under systemd and Kubernetes: socket activation through systemd-socket-activate, sd_notify
// datagrams received by a python3 stand-in for systemd, /health and /ready, drainDelay, and
// single mode's Connection: close to a request sent on an idle connection during stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, boot, fromLog, hermeticEnv, killAll, run } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { lateNotifyReceiver } from '../helpers/notify.js';
import { ownedByTest, type Owned } from '../helpers/processes.js';

const APP = join(ROOT, 'test/fixtures/environ-app.mjs');
// Every case runs a server of its own and mostly waits on it (drainDelay, a stop, sd_notify's
// messages, a respawn): they run side by side (each group { concurrent: true }), each with a ledger
// of its own (ownedByTest: its processes and folders, released when it finishes). In turn the file
// took 12.9 s of a quiet run's wall for 3.5 s of CPU.
afterAll(killAll);

/** A GET on a connection of its own; no answer within 5 s (scaled by the load; opts.timeout: another) is an error. */
function get(opts: http.RequestOptions): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ agent: false, timeout: 5000 * SLOWNESS, ...opts }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Socket inodes of the listening TCP sockets (state 0A) in /proc/net/tcp and tcp6. */
function tcpListenInodes(): Set<string> {
  const out = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') out.add(cols[9]!);
    }
  }
  return out;
}
function socketInodes(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m ? [m[1]!] : [];
    } catch {
      return [];
    }
  });
}

/** GET / on the socket systemd-socket-activate listens on, once it does (the file exists a moment before it listens). */
function firstRequest(sock: string): Promise<{ status: number; body: string }> {
  return waitFor(
    // Its answer waits for the whole boot (the connection is what starts tspuma): a long timeout.
    () => get({ socketPath: sock, path: '/', timeout: 20_000 * SLOWNESS }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? null : Promise.reject(err))),
    'the activation socket to answer',
    20_000,
    50,
  );
}

describe('socket activation', { concurrent: true }, () => {
  // One -w 2 cluster for what two cases checked (the respawn on a -w 1 cluster of its own: a boot,
  // an activation and a stop more). Both workers are killed, as the -w 1 case killed its only one:
  // with a sibling left serving, a replacement that could not take fd 3 itself (a handle shared
  // through the primary, say) went unnoticed (review8.2); the answer waited for is a replacement's.
  it('serves the socket systemd-socket-activate passes as fd 3 from both workers, binds nothing else, keeps LISTEN_* from the workers, and keeps serving it from workers respawned after a SIGKILL of both', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const dir = mine.tempDir();
    const sock = join(dir, 'web.sock');
    const proc = spawn('systemd-socket-activate', ['-l', sock, process.execPath, CLI, '-w', '2', APP], { env: hermeticEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    mine.own(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    // The first request is the one that makes tspuma start.
    const first = await firstRequest(sock);
    expect(first.status).toBe(200);
    const pids = new Set<number>([JSON.parse(first.body).pid]);
    const envs: string[][] = [JSON.parse(first.body).env];
    // The first answer needs one booted worker only: wait for both before asking for the other.
    await waitFor(() => /Worker 0 \(PID: \d+\) booted/.test(out) && /Worker 1 \(PID: \d+\) booted/.test(out), 'both workers to boot', 20_000);
    for (let i = 0; i < 200 && pids.size < 2; i++) {
      const r = await get({ socketPath: sock, path: '/' });
      expect(r.status).toBe(200);
      const b = JSON.parse(r.body) as { pid: number; env: string[] };
      if (!pids.has(b.pid)) envs.push(b.env);
      pids.add(b.pid);
    }
    expect(pids.size).toBe(2);
    // Said once, by the process systemd started (the primary), not again by each worker (review17.7).
    // (systemd-socket-activate execs tspuma: the primary's pid is proc.pid; a worker's line, logged
    // before its logger names the worker, would carry only its own pid.)
    expect(out.split('\n').filter((l) => l.includes('* Socket activation: serving')).map((l) => (JSON.parse(l) as { pid: number }).pid)).toEqual([proc.pid]);
    for (const env of envs) expect(env.filter((n) => /^(LISTEN_(FDS|PID|FDNAMES)|NOTIFY_SOCKET)$/.test(n))).toEqual([]);
    // No listener of its own: the default bind (tcp 9292) was not used, by the primary or a worker.
    expect(out).toContain('"urls":["fd://3"]');
    // As a bound URL's port, never as a bare substring: a log line's epoch-ms "time" or a pid can hold 9292.
    expect(out).not.toMatch(/:\/\/[^"\s]*:9292\b/);
    const listening = tcpListenInodes();
    for (const pid of [proc.pid!, ...pids]) expect(socketInodes(pid).filter((i) => listening.has(i))).toEqual([]);

    // Both workers killed with SIGKILL: their replacements get the activated socket and serve it.
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const next = await waitFor(async () => {
      const r = await get({ socketPath: sock, path: '/' }).catch(() => null);
      return r && r.status === 200 && !pids.has((JSON.parse(r.body) as { pid: number }).pid) ? r : null;
    }, 'the respawned worker to answer', 15_000, 20);
    expect(next.status).toBe(200);
    proc.kill('SIGTERM');
    await waitFor(() => proc.exitCode !== null, 'the primary to exit');
    expect(proc.exitCode).toBe(0);
  });

  it('single mode serves a TCP socket passed as fd 3 (LISTEN_PID set by the exec), shows its address and binds no port of its own', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const listener = net.createServer();
    await new Promise<void>((r) => listener.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (listener.address() as net.AddressInfo).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    // exec keeps the shell's pid, so $$ is tspuma's pid, as systemd sets it.
    const proc = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', process.execPath, CLI, APP], {
      env: hermeticEnv(),
      stdio: ['ignore', 'pipe', 'pipe', fd],
    });
    mine.own(proc);
    listener.close();
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => out.includes('Use Ctrl-C to stop'), 'the boot line');
    expect(out).toContain(`"urls":["http://127.0.0.1:${port}"]`);
    // Where the socket came from, and that the default bind was not made (N21).
    expect(out).toContain('* Socket activation: serving fd://3, passed by systemd (LISTEN_FDS); the default bind (port 9292) is not bound');
    const r = await get({ host: '127.0.0.1', port, path: '/' });
    const body = JSON.parse(r.body) as { pid: number; env: string[] };
    expect([r.status, body.pid]).toEqual([200, proc.pid]);
    const listening = tcpListenInodes();
    expect(socketInodes(proc.pid!).filter((i) => listening.has(i))).toHaveLength(1);
    proc.kill('SIGTERM');
    await waitFor(() => proc.exitCode !== null, 'tspuma to exit');
    expect(proc.exitCode).toBe(0);
  });
});

/** A python3 stand-in for systemd: receives datagrams on `address` and prints each with its time. */
function notifyReceiver(address: string, mine: Owned): { proc: ChildProcess; messages: () => { t: number; lines: string[] }[] } {
  const script = [
    'import socket, sys, json, time',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    "a = sys.argv[1]",
    "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
    "print(json.dumps({'ready': True}), flush=True)",
    'while True:',
    '    d = s.recv(65536)',
    "    print(json.dumps({'t': time.monotonic(), 'm': d.decode()}), flush=True)",
  ].join('\n');
  const proc = spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  mine.own(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const messages = () =>
    out.split('\n').filter((l) => l.startsWith('{"t"')).map((l) => {
      const j = JSON.parse(l) as { t: number; m: string };
      return { t: j.t * 1000, lines: j.m.split('\n').filter(Boolean) };
    });
  (proc as ChildProcess & { ready?: Promise<unknown> }).ready = waitFor(() => out.includes('"ready"'), 'the python3 receiver');
  return { proc, messages };
}

describe('sd_notify', { concurrent: true }, () => {
  it('sends STATUS, READY, WATCHDOG every half WATCHDOG_USEC, RELOADING on a phased restart and STOPPING, in order', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const dir = mine.tempDir();
    const address = join(dir, 'notify.sock');
    const rx = notifyReceiver(address, mine);
    await (rx.proc as ChildProcess & { ready: Promise<unknown> }).ready;
    const s = mine.adopt(await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', APP], { NOTIFY_SOCKET: address, WATCHDOG_USEC: '400000' }));
    const has = (key: string) => rx.messages().filter((m) => m.lines.some((l) => l.startsWith(key)));
    await waitFor(() => has('WATCHDOG=1').length >= 4, 'four WATCHDOG=1');
    // The period (half of WATCHDOG_USEC) is pinned through the Notifier's injected timer in
    // test/unit/systemd.test.ts: measured here it would be the machine's load, not tspuma's.
    s.proc.kill('SIGUSR1');
    await waitFor(() => has('RELOADING=1').length >= 1 && has('READY=1').length >= 2, 'RELOADING=1 then READY=1');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    await waitFor(() => has('STOPPING=1').length === 1, 'STOPPING=1');
    const kinds = rx.messages().map((m) => m.lines.find((l) => /^(READY|WATCHDOG|RELOADING|STOPPING)=/.test(l)) ?? m.lines.find((l) => l.startsWith('STATUS=')) ?? m.lines.join(' '));
    const firstOf = (k: string) => kinds.findIndex((x) => x.startsWith(k));
    expect(kinds[0]).toBe('STATUS=Booting');
    expect(firstOf('READY=1')).toBeLessThan(firstOf('WATCHDOG=1'));
    expect(firstOf('WATCHDOG=1')).toBeLessThan(firstOf('RELOADING=1'));
    expect(firstOf('RELOADING=1')).toBeLessThan(kinds.lastIndexOf('READY=1'));
    expect(kinds.lastIndexOf('READY=1')).toBeLessThan(firstOf('STOPPING=1'));
    const ready = has('READY=1')[0]!;
    expect(ready.lines.find((l) => l.startsWith('STATUS='))).toMatch(/^STATUS=Serving on http:\/\/127\.0\.0\.1:\d+ with 1 worker/);
    expect(has('RELOADING=1')[0]!.lines.some((l) => /^MONOTONIC_USEC=\d+$/.test(l))).toBe(true);
  });

  it('as a user without privileges, every message (READY, STATUS, STOPPING) is read while its sender still runs, with a receiver that reads each 300 ms late', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const dir = mine.tempDir();
    chmodSync(dir, 0o777);
    const address = join(dir, 'notify.sock');
    const rx = lateNotifyReceiver(address, 300);
    mine.own(rx.proc);
    await rx.ready;
    const s = mine.adopt(await boot(['-b', 'tcp://127.0.0.1:0', APP], { NOTIFY_SOCKET: address }, ROOT, { unprivileged: true }));
    await waitFor(() => rx.messages().some((m) => m.lines.includes('READY=1')), 'READY=1', 15_000);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    await waitFor(() => rx.messages().some((m) => m.lines.includes('STOPPING=1')), 'STOPPING=1', 15_000);
    const sent = rx.messages().filter((m) => !m.lines.includes('BARRIER=1'));
    expect(sent.map((m) => m.lines.find((l) => /^(READY|STOPPING)=/.test(l)) ?? m.lines.find((l) => l.startsWith('STATUS=')))).toEqual(['STATUS=Booting', 'READY=1', 'STOPPING=1']);
    if (process.getuid?.() === 0) expect(new Set(sent.map((m) => m.uid))).toEqual(new Set([65534]));
    // systemd attributes a message through its sender's pid: a sender gone before the read is a lost message.
    expect(sent.map((m) => ({ message: m.lines.join(' '), senderAliveWhenRead: m.alive }))).toEqual(sent.map((m) => ({ message: m.lines.join(' '), senderAliveWhenRead: true })));
  });

  it('warns at boot, with TSPUMA_ERR_SD_NOTIFY, when NOTIFY_SOCKET is set and no systemd-notify is on PATH, and serves on', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const s = mine.adopt(await boot(['-b', 'tcp://127.0.0.1:0', APP], { NOTIFY_SOCKET: join(mine.tempDir(), 'notify.sock'), PATH: mine.tempDir() }));
    const line = await fromLog(s, (l) => (l.code === 'TSPUMA_ERR_SD_NOTIFY' ? l : undefined), 'the sd_notify warning');
    expect([line.level, line.msg]).toEqual([40, expect.stringMatching(/^TSPUMA_ERR_SD_NOTIFY: sd_notify: NOTIFY_SOCKET=\S+ is set but systemd-notify is not on PATH/)]);
    expect((await get({ host: '127.0.0.1', port: Number(new URL(s.url).port), path: '/' })).status).toBe(200);
  });

  // With single mode's stop on an idle keep-alive connection (a server of its own cost a boot more).
  it('reaches an abstract NOTIFY_SOCKET (@name) in single mode, and at its SIGTERM answers a request sent on an idle keep-alive connection with Connection: close', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const address = `@tspuma-test-${process.pid}-${Date.now()}`;
    const rx = notifyReceiver(address, mine);
    await (rx.proc as ChildProcess & { ready: Promise<unknown> }).ready;
    const s = mine.adopt(await boot(['-b', 'tcp://127.0.0.1:0', APP], { NOTIFY_SOCKET: address }));
    await waitFor(() => rx.messages().some((m) => m.lines.includes('READY=1')), 'READY=1');
    const socket = net.connect(Number(new URL(s.url).port), '127.0.0.1');
    let text = '';
    let closed = false;
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => text.includes('"pid"'), 'the first response');
    text = '';
    s.proc.kill('SIGTERM');
    await fromLog(s, (l) => (String(l.msg).startsWith('Gracefully stopping, waiting for') ? true : undefined), 'the stop line');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => closed, 'the connection to close');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(await s.exited).toBe(0);
    await waitFor(() => rx.messages().some((m) => m.lines.includes('STOPPING=1')), 'STOPPING=1');
    // No watchdog without WATCHDOG_USEC.
    expect(rx.messages().filter((m) => m.lines.includes('WATCHDOG=1'))).toEqual([]);
  });
});

async function healthOf(s: Parameters<typeof fromLog>[0]): Promise<number> {
  const url = await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl : undefined), 'the health line');
  return Number(/:(\d+)$/.exec(url)![1]);
}

describe('health, readiness and drainDelay', { concurrent: true }, () => {
  // drainDelay grows with the load, and the requests that show it serving end at three quarters of
  // it: at a load of 19 a fixed 2 s drain with requests for 1.5 s after the signal had one reset
  // (ECONNRESET: a connection still queued when the drain ended and the listener closed).
  const drain = 2 * SLOWNESS;
  for (const mode of [[], ['-w', '1']]) {
    const name = mode.length ? 'cluster mode' : 'single mode';
    it(`${name}: /ready turns 503 at SIGTERM while the app still answers 200 for drainDelay, /health stays 200`, async (ctx) => {
      const mine = ownedByTest(ctx, 'systemd');
      const s = mine.adopt(await boot([...mode, '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', '--drain-delay', String(drain), APP]));
      const hp = await healthOf(s);
      const appPort = Number(new URL(s.url).port);
      expect((await get({ port: hp, host: '127.0.0.1', path: '/health' })).status).toBe(200);
      const ready = await get({ port: hp, host: '127.0.0.1', path: '/ready' });
      expect([ready.status, JSON.parse(ready.body).status]).toEqual([200, 'ready']);
      expect((await get({ port: hp, host: '127.0.0.1', path: '/nope' })).status).toBe(404);
      const signalled = Date.now();
      s.proc.kill('SIGTERM');
      await waitFor(async () => (await get({ port: hp, host: '127.0.0.1', path: '/ready' })).status === 503, '/ready 503');
      // Still serving on new connections through the drain.
      let served = 0;
      while (Date.now() - signalled < 750 * drain && served < 50) {
        expect((await get({ port: appPort, host: '127.0.0.1', path: '/' })).status).toBe(200);
        expect((await get({ port: hp, host: '127.0.0.1', path: '/health' })).status).toBe(200);
        served++;
      }
      expect(served).toBeGreaterThan(0);
      expect(await s.exited).toBe(0);
      expect(Date.now() - signalled).toBeGreaterThanOrEqual(1000 * drain);
    });
  }
});

describe('tspuma ctl stop', { concurrent: true }, () => {
  it('follows the SIGTERM sequence: STOPPING=1 at once, /ready 503 while the workers serve on for drainDelay, then a graceful stop and exit 0', async (ctx) => {
    const mine = ownedByTest(ctx, 'systemd');
    const dir = mine.tempDir();
    const address = join(dir, 'notify.sock');
    const rx = notifyReceiver(address, mine);
    await (rx.proc as ChildProcess & { ready: Promise<unknown> }).ready;
    // drainDelay 2 s scaled by the load, as above: the drain is the window in which STOPPING=1, /ready
    // 503 and a request served must all be seen.
    const drain = 2 * SLOWNESS;
    const s = mine.adopt(await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', '--drain-delay', String(drain), '--control-url', 'tcp://127.0.0.1:0', '--control-token', 'secret-token-0a1b2c3d', APP], { NOTIFY_SOCKET: address }));
    const hp = await healthOf(s);
    const control = await fromLog(s, (l) => (typeof l.controlUrl === 'string' ? l.controlUrl : undefined), 'the control line');
    await waitFor(() => rx.messages().some((m) => m.lines.includes('READY=1')), 'READY=1');
    const asked = Date.now();
    const ctl = mine.adopt(run(['ctl', 'stop', '--control-url', control, '--control-token', 'secret-token-0a1b2c3d']));
    expect(await ctl.exited, ctl.stderr()).toBe(0);
    await waitFor(() => rx.messages().some((m) => m.lines.includes('STOPPING=1')), 'STOPPING=1', 1_500);
    await waitFor(async () => (await get({ port: hp, host: '127.0.0.1', path: '/ready' })).status === 503, '/ready 503', 1_500);
    // The workers still serve new connections during the drain.
    expect((await get({ port: Number(new URL(s.url).port), host: '127.0.0.1', path: '/' })).status).toBe(200);
    expect(s.proc.exitCode).toBe(null);
    expect(await s.exited).toBe(0);
    expect(Date.now() - asked).toBeGreaterThanOrEqual(1000 * drain);
    expect(s.lines().some((l) => /^Received ctl stop: draining/.test(String(l.msg)))).toBe(true);
  });
});
