// systemd.ts and health.ts in process: activation variables parsed and removed, sd_notify queued
// in order with an injected spawn and timers, nothing spawned without NOTIFY_SOCKET, and the
// health answers for each readiness.
import { describe, expect, it } from 'vitest';
import { clusterReadiness, healthAnswer, type WorkerView } from '../../server/health.js';
import { Notifier, WORKER_LISTEN_FDS_ENV, activatedBinds, takeActivatedSockets, workerListenFds, type NotifySpawn } from '../../server/systemd.js';

describe('takeActivatedSockets', () => {
  it('returns fds 3.. named by LISTEN_FDNAMES when LISTEN_PID is this process, and removes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'web:admin', KEEP: '1' };
    expect(takeActivatedSockets(env, 42)).toEqual([{ fd: 3, name: 'web' }, { fd: 4, name: 'admin' }]);
    expect(env).toEqual({ KEEP: '1' });
  });

  it('ignores sockets passed to another pid (or without LISTEN_PID) but still removes the variables', () => {
    const other: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '41' };
    expect(takeActivatedSockets(other, 42)).toEqual([]);
    expect(other).toEqual({});
    const noPid: NodeJS.ProcessEnv = { LISTEN_FDS: '1' };
    expect(takeActivatedSockets(noPid, 42)).toEqual([]);
    expect(noPid).toEqual({});
  });

  it('rejects a LISTEN_FDS that is not a count with TSPUMA_ERR_SOCKET_ACTIVATION naming the value', () => {
    const env = { LISTEN_FDS: 'three', LISTEN_PID: '42' };
    expect(() => takeActivatedSockets(env, 42)).toThrow(expect.objectContaining({ code: 'TSPUMA_ERR_SOCKET_ACTIVATION', message: expect.stringContaining('LISTEN_FDS="three"') }));
  });

  it('passes a worker its copies as fds 4.. (after the IPC channel), named as the primary names them, through a variable that is removed too', () => {
    const binds = activatedBinds([{ fd: 3, name: 'web' }, { fd: 4, name: null }]);
    const passed = workerListenFds(binds)!;
    expect(passed).toEqual({ stdio: [3, 4], env: '4=3:web,5=4' });
    const env: NodeJS.ProcessEnv = { [WORKER_LISTEN_FDS_ENV]: passed.env };
    const sockets = takeActivatedSockets(env, 99);
    expect(sockets).toEqual([{ fd: 4, primaryFd: 3, name: 'web' }, { fd: 5, primaryFd: 4, name: null }]);
    expect(activatedBinds(sockets).map((b) => [b.fd, b.uri])).toEqual([[4, 'fd://3?name=web'], [5, 'fd://4']]);
    expect(env).toEqual({});
  });
});

function fakeNotify(env: NodeJS.ProcessEnv) {
  const sent: { args: string[]; env: NodeJS.ProcessEnv }[] = [];
  let tick: (() => void) | null = null;
  let period = 0;
  const spawn: NotifySpawn = async (args, e) => {
    sent.push({ args, env: e });
    return 0;
  };
  const notifier = new Notifier(env, 42, {
    spawn,
    setInterval: (fn, ms) => {
      tick = fn;
      period = ms;
      return {};
    },
    clearInterval: () => (tick = null),
    monotonicUsec: () => 123n,
  });
  return { notifier, sent, tick: () => tick?.(), period: () => period };
}

describe('Notifier', () => {
  it('spawns nothing without NOTIFY_SOCKET', async () => {
    const f = fakeNotify({ WATCHDOG_USEC: '400000' });
    await f.notifier.ready('x');
    await f.notifier.stopping('y');
    f.tick();
    expect(f.sent).toEqual([]);
    expect(f.notifier.enabled).toBe(false);
  });

  it('sends READY, WATCHDOG at half WATCHDOG_USEC, RELOADING with MONOTONIC_USEC and STOPPING in order, as the server pid', async () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@sd', WATCHDOG_USEC: '400000', OTHER: '1' };
    const f = fakeNotify(env);
    expect(env).toEqual({ OTHER: '1' });
    void f.notifier.ready('Serving');
    expect(f.period()).toBe(200);
    f.tick();
    void f.notifier.reloading('Phased restart to phase 1');
    await f.notifier.stopping('Stopping');
    expect(f.sent.map((s) => s.args)).toEqual([
      ['--pid=42', 'READY=1', 'STATUS=Serving'],
      ['--pid=42', 'WATCHDOG=1'],
      ['--pid=42', 'RELOADING=1', 'MONOTONIC_USEC=123', 'STATUS=Phased restart to phase 1'],
      ['--pid=42', 'STOPPING=1', 'STATUS=Stopping'],
    ]);
    expect(f.sent.every((s) => s.env.NOTIFY_SOCKET === '@sd')).toBe(true);
  });

  it('sends without --no-block, so systemd-notify waits until the message was read', async () => {
    const f = fakeNotify({ NOTIFY_SOCKET: '/run/x' });
    await f.notifier.ready('Serving');
    expect(f.sent.flatMap((s) => s.args).filter((a) => a.startsWith('--'))).toEqual(['--pid=42']);
  });

  it('queues at most one WATCHDOG=1 while a receiver is slow to read', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let tick: () => void = () => {};
    const notifier = new Notifier({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '400000' }, 42, {
      spawn: async (args) => (sent.push(args), await gate, 0),
      setInterval: (fn) => ((tick = fn), {}),
      clearInterval: () => {},
    });
    const ready = notifier.ready('Serving');
    for (let i = 0; i < 5; i++) tick();
    release();
    await ready;
    await notifier.flush();
    expect(sent.map((a) => a.slice(1))).toEqual([['READY=1', 'STATUS=Serving'], ['WATCHDOG=1']]);
  });

  it('says at boot when NOTIFY_SOCKET is set and systemd-notify is not on PATH, and nothing otherwise', () => {
    expect(new Notifier({ NOTIFY_SOCKET: '/run/n' }, 42, { findSender: () => null }).senderProblem()).toMatch(/^NOTIFY_SOCKET=\/run\/n is set but systemd-notify is not on PATH, so READY=1/);
    expect(new Notifier({ NOTIFY_SOCKET: '/run/n' }, 42, { findSender: () => '/usr/bin/systemd-notify' }).senderProblem()).toBe(null);
    expect(new Notifier({}, 42, { findSender: () => null }).senderProblem()).toBe(null);
  });

  it('starts no watchdog when WATCHDOG_PID names another process', async () => {
    const f = fakeNotify({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '400000', WATCHDOG_PID: '7' });
    await f.notifier.ready('Serving');
    expect(f.notifier.watchdogMs).toBe(null);
    expect(f.period()).toBe(0);
  });
});

describe('healthAnswer', () => {
  it('answers /health 200 always and /ready 200 only when ready, with the reason otherwise', async () => {
    for (const status of ['booting', 'ready', 'draining', 'unavailable'] as const) {
      const state = { readiness: () => ({ status, ...(status === 'ready' ? {} : { reason: `why ${status}` }) }) };
      expect((await healthAnswer('GET', '/health', state)).status).toBe(200);
      expect(await healthAnswer('GET', '/ready', state)).toEqual(status === 'ready' ? { status: 200, body: { status } } : { status: 503, body: { status, reason: `why ${status}` } });
    }
    const ready = { readiness: () => ({ status: 'ready' as const }) };
    expect((await healthAnswer('POST', '/ready', ready)).status).toBe(405);
    expect((await healthAnswer('GET', '/stats', ready)).status).toBe(404);
  });

  it("asks the app's check only after tspuma's own answer is a success, and turns its failure into 503 with its reason", async () => {
    const asked: string[] = [];
    const appCheck = async (kind: 'ready' | 'health') => (asked.push(kind), { ok: false, reason: `${kind}: database down` });
    expect(await healthAnswer('GET', '/ready', { readiness: () => ({ status: 'booting', reason: 'b' }), appCheck })).toEqual({ status: 503, body: { status: 'booting', reason: 'b' } });
    expect(asked).toEqual([]);
    expect(await healthAnswer('GET', '/ready', { readiness: () => ({ status: 'ready' }), appCheck })).toEqual({ status: 503, body: { status: 'unavailable', reason: 'ready: database down' } });
    expect(await healthAnswer('GET', '/health', { readiness: () => ({ status: 'ready' }), appCheck })).toEqual({ status: 503, body: { status: 'unhealthy', pid: process.pid, reason: 'health: database down' } });
  });
});

describe('clusterReadiness', () => {
  const w = (index: number, over: Partial<WorkerView> = {}): WorkerView => ({ index, pid: 100 + index, booted: true, stopping: false, exited: false, ...over });
  it('is ready while one worker has booted and is neither stopping nor gone', () => {
    expect(clusterReadiness([w(0, { exited: true, exitSignal: 'SIGKILL' }), w(1)], false, true)).toEqual({ status: 'ready' });
  });
  it('names each worker when none serves: booting before the first boot, unavailable after, draining at stop', () => {
    expect(clusterReadiness([w(0, { booted: false })], false, false)).toEqual({ status: 'booting', reason: 'no worker serves: worker 0 is booting (PID 100)' });
    expect(clusterReadiness([w(1, { booted: false, bootError: { message: 'Error: boom' } }), w(0, { exited: true, exitSignal: 'SIGKILL' })], false, true)).toEqual({
      status: 'unavailable',
      reason: 'no worker serves: worker 0 died (SIGKILL); worker 1 is booting (PID 101), last boot failed: Error: boom',
    });
    expect(clusterReadiness([w(0, { stopping: true })], false, true)).toEqual({ status: 'unavailable', reason: 'no worker serves: worker 0 is stopping' });
    expect(clusterReadiness([w(0)], true, true)).toEqual({ status: 'draining', reason: 'the server is stopping' });
  });
  it('does not count a booted worker whose check-in is overdue (a blocked event loop): unavailable when every worker is silent (S8)', () => {
    const silent = (index: number, ms: number) => w(index, { silentMs: ms });
    expect(clusterReadiness([silent(0, 12_400), silent(1, 11_050)], false, true, 11_000)).toEqual({
      status: 'unavailable',
      reason: 'no worker serves: worker 0 has not checked in for 12.4 s (its event loop is blocked or paused); worker 1 has not checked in for 11.1 s (its event loop is blocked or paused)',
    });
    // One that checks in serves; a check-in just inside the limit still counts.
    expect(clusterReadiness([silent(0, 12_400), silent(1, 10_900)], false, true, 11_000)).toEqual({ status: 'ready' });
  });
});
