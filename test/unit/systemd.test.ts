// systemd.ts and health.ts in process: activation variables parsed and removed, sd_notify queued
// in order with an injected spawn and timers, nothing spawned without NOTIFY_SOCKET, and the
// health answers for each readiness.
import { describe, expect, it } from 'vitest';
import { healthAnswer } from '../../server/health.js';
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
      ['--pid=42', '--no-block', 'READY=1', 'STATUS=Serving'],
      ['--pid=42', '--no-block', 'WATCHDOG=1'],
      ['--pid=42', '--no-block', 'RELOADING=1', 'MONOTONIC_USEC=123', 'STATUS=Phased restart to phase 1'],
      ['--pid=42', '--no-block', 'STOPPING=1', 'STATUS=Stopping'],
    ]);
    expect(f.sent.every((s) => s.env.NOTIFY_SOCKET === '@sd')).toBe(true);
  });

  it('starts no watchdog when WATCHDOG_PID names another process', async () => {
    const f = fakeNotify({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '400000', WATCHDOG_PID: '7' });
    await f.notifier.ready('Serving');
    expect(f.notifier.watchdogMs).toBe(null);
    expect(f.period()).toBe(0);
  });
});

describe('healthAnswer', () => {
  it('answers /health 200 always and /ready 200 only when ready', () => {
    for (const r of ['booting', 'ready', 'draining'] as const) {
      expect(healthAnswer('GET', '/health', { readiness: () => r }).status).toBe(200);
      expect(healthAnswer('GET', '/ready', { readiness: () => r })).toEqual({ status: r === 'ready' ? 200 : 503, body: { status: r } });
    }
    expect(healthAnswer('POST', '/ready', { readiness: () => 'ready' }).status).toBe(405);
    expect(healthAnswer('GET', '/stats', { readiness: () => 'ready' }).status).toBe(404);
  });
});
