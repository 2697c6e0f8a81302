// The systemd protocols without a native addon: sockets passed by socket activation
// (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) taken out of the environment and turned into binds, and
// sd_notify messages (READY, STATUS, WATCHDOG, RELOADING, STOPPING) sent through systemd's own
// `systemd-notify` tool, one at a time and in order. Without NOTIFY_SOCKET nothing is spawned.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BACKLOG_DEFAULT, type BindSpec } from './binder-uri.js';
import { TspumaError, showValue } from './errors.js';
import type { Options } from './options.js';
import { WORKER_LISTEN_FDS_ENV } from './shared-names.js';

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;
/** Environment a cluster worker is forked with: its copies of the activated sockets (workerListenFds). */
export { WORKER_LISTEN_FDS_ENV };

export interface ActivatedSocket {
  readonly fd: number;
  /** From LISTEN_FDNAMES (FileDescriptorName= in the .socket unit), or null. */
  readonly name: string | null;
  /** In a cluster worker: the primary's fd for this socket, which names the bind. */
  readonly primaryFd?: number;
}

/** A bind on an inherited listening socket: listen({ fd }) instead of an address. */
export interface FdBindSpec extends BindSpec {
  readonly fd: number;
  /**
   * A socket the cluster primary bound from this bind and keeps (cluster/listeners.ts): the bind's
   * URI, backlog, TLS and PROXY protocol apply. Absent: a socket systemd passed.
   */
  readonly kept?: true;
}

export function isFdBind(spec: BindSpec): spec is FdBindSpec {
  return typeof (spec as Partial<FdBindSpec>).fd === 'number';
}

const ACTIVATION_VARS = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

/**
 * Reads and removes the socket activation variables (the app and workers never see them, and fd
 * 3 is a worker's IPC channel). Sockets are returned only when LISTEN_PID is this process.
 */
export function takeActivatedSockets(env: NodeJS.ProcessEnv, pid: number): ActivatedSocket[] {
  const [fdsText, pidText, namesText] = ACTIVATION_VARS.map((k) => env[k]);
  for (const k of ACTIVATION_VARS) delete env[k];
  const worker = env[WORKER_LISTEN_FDS_ENV];
  delete env[WORKER_LISTEN_FDS_ENV];
  if (worker !== undefined) {
    return worker.split(',').filter(Boolean).map((item) => {
      const [fds, ...name] = item.split(':');
      const [fd, primaryFd] = fds!.split('=').map(Number);
      return { fd: fd!, primaryFd: primaryFd ?? fd!, name: name.length > 0 ? name.join(':') : null };
    });
  }
  if (fdsText === undefined) return [];
  // As sd_listen_fds(): sockets are ours only when LISTEN_PID names this process.
  if (pidText !== String(pid)) return [];
  if (!/^\d+$/.test(fdsText) || Number(fdsText) > 1000) {
    throw new TspumaError('TSPUMA_ERR_SOCKET_ACTIVATION', { name: 'LISTEN_FDS', value: showValue(fdsText), expected: 'a count of passed sockets (0 to 1000)' });
  }
  const names = namesText === undefined ? [] : namesText.split(':');
  return Array.from({ length: Number(fdsText) }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || null }));
}

/** The binds of activated sockets; the URL is known once listening (tcp port or unix path). */
export function activatedBinds(sockets: readonly ActivatedSocket[]): FdBindSpec[] {
  return sockets.map((s) => ({
    uri: `fd://${s.primaryFd ?? s.fd}${s.name ? `?name=${s.name}` : ''}`,
    scheme: 'tcp',
    host: null,
    port: null,
    path: null,
    backlog: BACKLOG_DEFAULT,
    lowLatency: true,
    mode: null,
    tls: null,
    proxyProtocol: null,
    source: 'systemd socket activation (LISTEN_FDS)',
    fd: s.fd,
  }));
}

/**
 * Options whose binds include the activated sockets. They replace the default bind; binds the
 * user gave (-b, PORT, config) are listened on as well.
 */
export function withActivatedBinds(options: Options, sockets: readonly ActivatedSocket[]): Options {
  if (sockets.length === 0) return options;
  const own = options.bind.filter((b) => b.source !== 'default');
  const bind = Object.freeze([...activatedBinds(sockets).map((b) => Object.freeze(b)), ...own]);
  return Object.freeze({ ...options, bind });
}

/**
 * How a cluster worker gets the activated sockets: the primary forks with stdio
 * [0, 1, 2, 'ipc', ...fds], so its socket i is the worker's fd 4 + i (`env`: `workerFd=primaryFd[:name]`,
 * comma-separated). Each worker listens on its own copy: a worker's exit (even the last one's)
 * never closes the primary's, which node:cluster's shared handle would do.
 */
export function workerListenFds(binds: readonly BindSpec[]): { stdio: number[]; env: string } | null {
  const fds = binds.filter(isFdBind);
  if (fds.length === 0) return null;
  const env = fds.map((b, i) => {
    const name = /\?name=(.*)$/.exec(b.uri)?.[1];
    return `${LISTEN_FDS_START + 1 + i}=${b.fd}${name ? `:${name}` : ''}`;
  });
  return { stdio: fds.map((b) => b.fd), env: env.join(',') };
}

/** Runs `systemd-notify` with the message lines; resolves when it exited (its exit code). */
export type NotifySpawn = (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;

// node:child_process is loaded with the first message: a single-mode boot without NOTIFY_SOCKET
// never needs it (a cluster has it for node:cluster anyway).
const spawnNotify: NotifySpawn = async (args, env) => {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', args, { env, stdio: 'ignore' });
    child.once('error', () => resolve(-1));
    child.once('exit', (code) => resolve(code ?? -1));
  });
};

/** The `systemd-notify` executable on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* the next directory */
    }
  }
  return null;
}

export interface NotifierDeps {
  spawn?: NotifySpawn;
  setInterval?: (fn: () => void, ms: number) => { unref?(): void };
  clearInterval?: (t: unknown) => void;
  /** CLOCK_MONOTONIC in µs, for RELOADING's MONOTONIC_USEC. */
  monotonicUsec?: () => bigint;
  /** Told once when a message could not be sent (systemd-notify missing or failing). */
  onFailure?: (message: string) => void;
  /** Where the sender is: PATH's systemd-notify, or null when there is none. */
  findSender?: () => string | null;
}

/**
 * sd_notify to NOTIFY_SOCKET (a path, or `@name` for an abstract socket), read once and removed
 * from the environment with WATCHDOG_USEC/WATCHDOG_PID, so workers and the app do not notify.
 * The sender is a systemd-notify child (the unit needs `NotifyAccess=all`), run without
 * `--no-block`: it then waits until the receiver has read the message (its BARRIER=1), so the
 * sender still exists when systemd looks it up, even when tspuma is not root and cannot send
 * with its own pid's credentials. Messages go one at a time, in order.
 */
export class Notifier {
  readonly socket: string | null;
  /** Half of WATCHDOG_USEC, in ms; null without a watchdog (or one meant for another pid). */
  readonly watchdogMs: number | null;
  private queue: Promise<void> = Promise.resolve();
  private watchdog: unknown = null;
  /** A WATCHDOG=1 is queued and not sent yet: a slow receiver does not pile them up. */
  private watchdogQueued = false;
  private failed = false;
  private readonly deps: Required<NotifierDeps>;

  constructor(env: NodeJS.ProcessEnv, readonly pid: number, deps: NotifierDeps = {}) {
    this.socket = env.NOTIFY_SOCKET || null;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === String(pid);
    this.watchdogMs = this.socket && forUs && Number.isFinite(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : null;
    for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[k];
    this.deps = {
      spawn: deps.spawn ?? spawnNotify,
      setInterval: deps.setInterval ?? ((fn, ms) => setInterval(fn, ms)),
      clearInterval: deps.clearInterval ?? ((t) => clearInterval(t as NodeJS.Timeout)),
      monotonicUsec: deps.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n),
      onFailure: deps.onFailure ?? (() => {}),
      findSender: deps.findSender ?? (() => findOnPath('systemd-notify')),
    };
  }

  /**
   * The boot warning when NOTIFY_SOCKET is set and nothing can send to it (a container image
   * without the systemd package): READY would never reach the service manager. Null when fine.
   */
  senderProblem(): string | null {
    if (!this.socket || this.deps.findSender() !== null) return null;
    return `NOTIFY_SOCKET=${this.socket} is set but systemd-notify is not on PATH, so READY=1, WATCHDOG=1 and STOPPING=1 will not be sent (a Type=notify unit times out): install the systemd package (Debian, Ubuntu: apt-get install systemd; Alpine: apk add systemd) or unset NOTIFY_SOCKET`;
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  /** Queues one datagram of `KEY=VALUE` lines; sent after the ones before it. */
  send(...lines: string[]): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    // No --no-block: systemd-notify returns once the message was read (see the class comment).
    const args = [`--pid=${this.pid}`, ...lines];
    this.queue = this.queue.then(async () => {
      const code = await this.deps.spawn(args, { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket });
      if (code !== 0 && !this.failed) {
        this.failed = true;
        this.deps.onFailure(`systemd-notify ${lines.join(' ')} failed (${code === -1 ? 'not found: install the systemd package' : `exit ${code}`}); NOTIFY_SOCKET=${socket}`);
      }
    });
    return this.queue;
  }

  /** Waits (at most `ms`) for the messages queued so far: STOPPING=1 must go out before exit. */
  async flush(ms = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.queue, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  ready(status: string): Promise<void> {
    this.startWatchdog();
    return this.send('READY=1', `STATUS=${status}`);
  }
  status(text: string): Promise<void> {
    return this.send(`STATUS=${text}`);
  }
  reloading(status: string): Promise<void> {
    return this.send('RELOADING=1', `MONOTONIC_USEC=${this.deps.monotonicUsec()}`, `STATUS=${status}`);
  }
  /** The watchdog keeps going while requests finish: a long graceful stop is not a hang. */
  stopping(status: string): Promise<void> {
    return this.send('STOPPING=1', `STATUS=${status}`);
  }

  private startWatchdog(): void {
    if (this.watchdogMs === null || this.watchdog !== null) return;
    const t = this.deps.setInterval(() => {
      if (this.watchdogQueued) return;
      this.watchdogQueued = true;
      void this.send('WATCHDOG=1').finally(() => (this.watchdogQueued = false));
    }, this.watchdogMs);
    t.unref?.();
    this.watchdog = t;
  }
  stopWatchdog(): void {
    if (this.watchdog !== null) this.deps.clearInterval(this.watchdog);
    this.watchdog = null;
  }
}
