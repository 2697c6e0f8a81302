// A worker's own inspector: opened on its predictable port (or a logged fallback) when inspect is
// on, its URL for discovery; and, for every process, the requests in flight exposed to a remote
// reader. (The primary and the single process open none: discovery's bridge serves them.)
import inspector from 'node:inspector';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { InspectAddress } from '../server/options.js';
import { findPortHolder, portListening, type PortHolder } from '../server/port-holder.js';
import { procStat } from '../server/process-alive.js';
import { attachable } from '../server/shared-names.js';

/** Who a process is, for its title and its target id. */
export type Role = { kind: 'single' } | { kind: 'primary' } | WorkerRole;
export type WorkerRole = { kind: 'worker'; index: number };

/**
 * Discovery (and through it the primary or the single process) on base, worker i on base+2+i;
 * base+1 stays unused, so worker ports are where they always were.
 */
export function inspectorPort(base: number, role: WorkerRole): number {
  if (base === 0) return 0;
  return base + 2 + role.index;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}


/** Lets an autopsy read the requests in flight while the process is paused (shared-names.ts). */
export { exposeInFlight } from '../server/shared-names.js';

/** How a process is named in log lines: "the server", "the primary", "worker 1". */
export function roleName(role: Role): string {
  return role.kind === 'worker' ? `worker ${role.index}` : role.kind === 'single' ? 'the server' : 'the primary';
}

/**
 * Node prints `Debugger listening on ...` and `For help, see ...` on stderr for every inspector
 * it opens unless the process started with `--inspect-publish-uid=http`; workers inherit the
 * primary's execArgv at fork, so this adds the flag for them (tspuma logs the same fact). The
 * primary itself opens no inspector (DEBUGGING.md, "Node's own lines").
 */
export function quietChildInspectors(execArgv: string[]): void {
  if (!execArgv.some((a) => a.startsWith('--inspect-publish-uid'))) execArgv.push('--inspect-publish-uid=http');
}

/**
 * Whether Node prints its own two lines when this process opens an inspector: the last
 * `--inspect-publish-uid` of NODE_OPTIONS and then the command line (which wins) lists `stderr`,
 * or none is given (Node's default is `stderr,http`).
 */
export function nodePrintsInspectorLines(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  let value = 'stderr,http';
  for (const args of [(nodeOptions ?? '').split(/\s+/), execArgv]) {
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a.startsWith('--inspect-publish-uid=')) value = a.slice('--inspect-publish-uid='.length);
      else if (a === '--inspect-publish-uid' && args[i + 1] !== undefined) value = args[++i]!;
    }
  }
  return value.split(',').some((d) => d.trim().replace(/^["']|["']$/g, '') === 'stderr');
}

/**
 * Who holds a port, when it is known to be taken (Linux: /proc); null when it looks free. A pid of
 * null: taken by a process that cannot be named (another user's, whose fds are not readable).
 */
export type PortProbe = (port: number) => { pid: number | null; command: string } | null;

/**
 * The probe openInspector uses: the holder `find` names, else "taken, holder unknown" when a socket
 * listens on the port all the same (review16.3: trying such a port makes Node print its own
 * `Starting inspector on … failed` line on stderr, outside tspuma's log).
 */
export function busyPortProbe(find: (port: number) => PortHolder | null = findPortHolder, listening: (port: number) => boolean = portListening): PortProbe {
  return (port) => find(port) ?? (listening(port) ? { pid: null, command: '' } : null);
}

/**
 * A worker's inspector port held by its own predecessor: during a phased or hot restart the new
 * worker i boots (and opens its inspector) while the worker it replaces still runs and holds
 * PORT+2+i. It opens a free port meanwhile and moves to its own once that process has exited, so
 * chrome://inspect or a DevTools window set to PORT+2+i finds worker i again after every restart
 * (DEBUGGING.md's table), and no warning reads tspuma's own hand-over as a conflict.
 */
export interface Handover {
  /** The worker's inspector moved to its own port: its new URL (the primary's discovery is told). */
  onMoved(url: string): void;
  /** A process's parent pid, or null when it is gone (Linux: /proc). */
  parentOf?: (pid: number) => number | null;
  /** The process has exited (gone, or a zombie its parent has not reaped yet). */
  exited?: (pid: number) => boolean;
  /** How often the predecessor is looked at. */
  everyMs?: number;
}

const parentFromProc = (pid: number): number | null => {
  const f = procStat(pid);
  return f ? Number(f[1]) : null;
};
const exitedFromProc = (pid: number): boolean => {
  const f = procStat(pid);
  return f === null || f[0] === 'Z' || f[0] === 'X';
};

/**
 * Opens the inspector on its port; a busy port is replaced by a free one (port 0, the kernel's
 * choice) with a warning naming the holder, and the address actually opened is logged. A port
 * seen taken beforehand is not tried, so Node's own `Starting inspector ... failed` line stays
 * out of the output. tspuma's own line comes first after Node's two (when Node prints them, see
 * nodePrintsInspectorLines) and says it is the same inspector, so the three read as one
 * message. Returns the ws:// URL, or null when no inspector could be opened.
 */
export function openInspector(
  addr: InspectAddress,
  role: WorkerRole,
  log: Logger,
  probe: PortProbe = busyPortProbe(),
  nodePrints: boolean = nodePrintsInspectorLines(process.execArgv, process.env.NODE_OPTIONS),
  handover: Handover | null = null,
): string | null {
  const already = inspector.url();
  if (already) return already; // started with node --inspect: keep it
  const port = inspectorPort(addr.port, role);
  const who = roleName(role);
  if (!isLoopback(addr.host)) {
    log.warn({ host: addr.host }, `The inspector of ${who} listens on ${addr.host}, not loopback: anyone who reaches it can run code in this process`);
  }
  try {
    const holder = port === 0 ? null : probe(port);
    let url: string | undefined;
    if (!holder) {
      inspector.open(port, addr.host, false);
      url = inspector.url();
    }
    let fallback: (() => void) | null = null;
    if (!url && port !== 0) {
      inspector.open(0, addr.host, false);
      url = inspector.url();
      const opened = url ?? null;
      // Held by a sibling (a process of the same primary): the worker this one replaces.
      const predecessorPid = holder?.pid != null && handover && (handover.parentOf ?? parentFromProc)(holder.pid) === process.ppid ? holder.pid : null;
      if (predecessorPid !== null && opened) {
        fallback = () => {
          log.info({ port, inspector: opened, holder: predecessorPid }, `Inspector port ${port} (${who}) is still held by the worker this one replaces (pid ${predecessorPid}); opened ${hostPortOf(opened)} until it exits, then port ${port}`);
          takeOverWhenGone(predecessorPid, port, addr.host, who, log, handover!);
        };
      } else {
        const held = !holder ? '' : holder.pid === null ? ` (its holder could not be named: another user's process; \`ss -ltnp 'sport = :${port}'\` as root shows it)` : ` (held by pid ${holder.pid}: ${holder.command})`;
        fallback = () => log.warn({ port, inspector: opened, holder: holder?.pid ?? null }, `Inspector port ${port} (${who}) is in use${held}; opened ${opened ? hostPortOf(opened) : 'none'} instead`);
      }
    }
    if (!url) {
      fallback?.();
      throw new Error(`no port could be opened on ${addr.host}`);
    }
    attachable(); // debug mode's capture starts its pause rescuer
    const node = nodePrints ? ` (Node's own "Debugger listening" line on stderr names the same address)` : '';
    // The worker's logger already names its pid and worker: each key once in the JSON line.
    log.info({ inspector: url }, `* Inspector of ${who} (PID: ${process.pid}): ${url}${node}`);
    // After the line that names the address: Node's two lines and tspuma's stay together.
    fallback?.();
    return url;
  } catch (err) {
    log.error({ err }, `Cannot open the inspector of ${who}: ${(err as Error).message}`);
    return null;
  }
}

/**
 * Waits for the predecessor `pid` to exit, then moves this process's inspector to `port`: the
 * sessions on the interim port end (a DevTools window reattaches through discovery, or to the
 * port); in-process sessions (capture, probes) are not affected. A port still taken by then (by
 * another process, in between) leaves the inspector on a free one, with the usual warning.
 */
function takeOverWhenGone(pid: number, port: number, host: string, who: string, log: Logger, handover: Handover): void {
  const exited = handover.exited ?? exitedFromProc;
  const parentOf = handover.parentOf ?? parentFromProc;
  const timer = setInterval(() => {
    // Exited, or reaped and its pid reused by a process that is not our sibling (review7.6).
    if (!exited(pid) && parentOf(pid) === process.ppid) return;
    clearInterval(timer);
    const interim = inspector.url();
    inspector.close();
    // Taken by someone else meanwhile: not tried (Node's own failure line, review16.3).
    if (!portListening(port)) inspector.open(port, host, false);
    let url = inspector.url();
    if (!url) {
      inspector.open(0, host, false);
      url = inspector.url();
      log.warn({ port, inspector: url ?? null }, `Inspector port ${port} (${who}) is in use, after the worker it replaced exited; opened ${url ? hostPortOf(url) : 'none'} instead`);
    } else {
      log.info({ inspector: url }, `* Inspector of ${who} (PID: ${process.pid}) moved to its own port: ${url} (the worker it replaced exited${interim ? `; sessions on ${hostPortOf(interim)} ended: reattach here or through discovery` : ''})`);
    }
    if (url) handover.onMoved(url);
  }, handover.everyMs ?? 200);
  timer.unref();
}

/**
 * Closes this process's own inspector port, ending every DevTools connection to it, as a worker
 * stops: with a client still attached, Node would otherwise print "Waiting for the debugger to
 * disconnect..." at exit and wait until the client leaves (the primary kills it at
 * workerShutdownTimeout). In-process sessions (capture, probes) are not affected.
 */
export function closeInspector(): void {
  if (inspector.url()) inspector.close();
}

/** "127.0.0.1:9230" of "ws://127.0.0.1:9230/uuid". */
function hostPortOf(ws: string): string {
  return new URL(ws).host;
}

/** The DevTools address for a ws:// URL (host:port/path, no scheme). */
export function devtoolsUrl(ws: string): string {
  return `devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=${ws.replace(/^ws:\/\//, '')}`;
}
