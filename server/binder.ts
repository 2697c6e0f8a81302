// Binding: creates one node:http or node:https server per bind (node's own timers off), listens
// with its backlog, reads the PROXY protocol header on binds that ask for it, and turns listen
// errors into coded errors naming the bind and a hint. A cluster primary's binds are bound once
// here (bindForWorkers) and kept for its life; its workers listen on copies of them.
import { readFileSync, lstatSync, statSync, unlinkSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Logger } from 'pino';
import { bindUrl, listenerDoing, type BindSpec } from './binder-uri.js';
import type { DiagnosticsHook } from './debug-hook.js';
import { TspumaError } from './errors.js';
import { findPortHolder } from './port-holder.js';
import { kDumped } from './shared-names.js';
import { SERVER_OPTIONS, bindWithoutListening, listenOnOwnFd } from './node-http.js';
import { isFdBind } from './systemd.js';

/** A node:http server listening on one bind. */
export interface BoundServer {
  readonly spec: BindSpec;
  readonly server: http.Server;
  /** "http://127.0.0.1:9292" with the port the kernel gave for :0. */
  readonly url: string;
  readonly port: number | null;
}

const require = createRequire(import.meta.url);
/** node:https, loaded by the first ssl:// bind: with node:tls it is about 5 ms of a plain boot. */
let https: typeof import('node:https') | null = null;

export function readSomaxconn(): number | null {
  try {
    const n = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * One server per bind; handshakeMs bounds a TLS handshake or a PROXY protocol header (the
 * connection deadlines take over after it). A server that will accept connections passes the
 * log its PROXY protocol refusals and plain HTTP on TLS (tls-plain-http.ts) go to; a probe that
 * only listens passes none. The PROXY
 * protocol's reader and the TLS file checks are imported by the first bind that needs them: a
 * plain tcp:// boot loads neither (issue 31).
 */
export async function createHttpServer(spec: BindSpec, handshakeMs = 30_000, log: Logger | null = null): Promise<http.Server> {
  const options = { ...SERVER_OPTIONS, noDelay: spec.lowLatency };
  if (spec.proxyProtocol !== null && log !== null) {
    const { acceptProxyProtocol } = await import('./proxy-protocol.js');
    const server = http.createServer(options);
    acceptProxyProtocol(server, { uri: spec.uri, mode: spec.proxyProtocol, timeoutMs: handshakeMs, log });
    return server;
  }
  if (spec.tls) {
    const { loadTlsFiles } = await import('./tls-files.js');
    https ??= require('node:https') as typeof import('node:https');
    const server = https.createServer({ ...options, handshakeTimeout: handshakeMs, ...loadTlsFiles(spec) });
    if (log !== null) (await import('./tls-plain-http.js')).answerPlainHttp(server, handshakeMs, log);
    return server;
  }
  return http.createServer(options);
}

/** The listen errors' {doing}, {uri} and {source}: "for health checks ", the URI, "--health-url in command line". */
function listenedAt(spec: BindSpec): { doing: string; uri: string; source: string } {
  return { doing: listenerDoing(spec), uri: spec.uri, source: spec.source };
}

/** True when nothing is at `path` (ENOENT); false when something is, or it cannot be told (EACCES on a folder above). */
function missing(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}

/** Turns an OS listen error into a coded error naming the bind, the OS error and a hint. */
export function listenError(err: NodeJS.ErrnoException, spec: BindSpec): TspumaError {
  const cause = { cause: err };
  // Which listener (the app's bind, health checks, the control app) and where its URI came from.
  const at = listenedAt(spec);
  switch (err.code) {
    case 'EADDRINUSE': {
      if (spec.scheme === 'unix') {
        return new TspumaError('TSPUMA_ERR_LISTEN_ADDRINUSE', { ...at, hint: 'Another server is accepting connections on that socket file.' }, cause);
      }
      const holder = spec.port ? findPortHolder(spec.port) : null;
      const hint = holder?.pid === process.pid
        ? `Port ${spec.port} is held by this process (pid ${process.pid}) itself: a server the app started while loading (TSPUMA_ERR_APP_LISTEN above: remove its listen() call, or start it only when the module is run directly), or another of tspuma's listeners (a second bind, the control or health URL) on the same port.`
        : holder
        ? `Port ${spec.port} is held by pid ${holder.pid} (${holder.command}).`
        : `Find what holds it with \`ss -ltnp 'sport = :${spec.port}'\` or \`lsof -i :${spec.port}\`, or choose another port.`;
      return new TspumaError('TSPUMA_ERR_LISTEN_ADDRINUSE', { ...at, hint }, cause);
    }
    case 'EACCES':
      // libuv reports a unix socket path whose folder is missing as EACCES (uv_pipe_bind turns
      // ENOENT into EACCES): that is no permission to check.
      if (spec.scheme === 'unix' && !spec.path!.startsWith('\0') && missing(dirname(spec.path!))) {
        return new TspumaError('TSPUMA_ERR_LISTEN_UNIX_PATH', { ...at, reason: `the directory ${dirname(spec.path!)} does not exist.` }, cause);
      }
      return new TspumaError(
        'TSPUMA_ERR_LISTEN_ACCESS',
        {
          ...at,
          hint:
            spec.scheme === 'unix'
              ? `The user cannot create ${spec.path} (check the permissions of ${dirname(spec.path!)}).`
              : `Ports below 1024 need root or CAP_NET_BIND_SERVICE (see sysctl net.ipv4.ip_unprivileged_port_start); use a port from 1024 up behind a proxy.`,
        },
        cause,
      );
    case 'EADDRNOTAVAIL':
      return new TspumaError(
        'TSPUMA_ERR_LISTEN_ADDRNOTAVAIL',
        { ...at, host: spec.host, hint: 'Use 127.0.0.1, 0.0.0.0, or an address shown by `ip addr`.' },
        cause,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TspumaError('TSPUMA_ERR_LISTEN_ADDRNOTAVAIL', { ...at, host: spec.host, hint: `The host name does not resolve (${err.code}).` }, cause);
    case 'ENOENT':
    case 'ENOTDIR':
      if (spec.scheme === 'unix') {
        return new TspumaError('TSPUMA_ERR_LISTEN_UNIX_PATH', { ...at, reason: `the directory ${dirname(spec.path!)} does not exist (${err.code}).` }, cause);
      }
      break;
  }
  return new TspumaError('TSPUMA_ERR_LISTEN', { ...at, osCode: err.code ?? 'unknown', osMessage: err.message }, cause);
}

/** Removes a stale unix socket file; refuses to touch a live socket or a non-socket file. */
export async function prepareUnixPath(spec: BindSpec, log: Logger): Promise<void> {
  const path = spec.path!;
  if (path.startsWith('\0')) return; // abstract socket: no file
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new TspumaError('TSPUMA_ERR_LISTEN_UNIX_PATH', { ...listenedAt(spec), reason: `${path} exists and is not a socket; tspuma will not remove it.` });
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new TspumaError('TSPUMA_ERR_LISTEN_ADDRINUSE', { ...listenedAt(spec), hint: 'Another server is accepting connections on that socket file.' });
  }
  unlinkSync(path);
  log.info({ path }, `Removed stale socket file ${path}`);
}

/** Listens on one bind. Resolves with the BoundServer, rejects with a coded TspumaError. */
export async function listen(spec: BindSpec, server: http.Server, log: Logger, diagnostics: DiagnosticsHook | null = null): Promise<BoundServer> {
  const somaxconn = readSomaxconn();
  // An inherited socket's bind was checked where it was bound (systemd, or the cluster primary).
  if (somaxconn !== null && spec.backlog > somaxconn && !isFdBind(spec)) {
    log.warn(
      { uri: spec.uri, backlog: spec.backlog, somaxconn },
      `backlog ${spec.backlog} in ${spec.uri} exceeds net.core.somaxconn (${somaxconn}); the kernel will cap it at ${somaxconn}`,
    );
  }
  if (spec.scheme === 'unix' && !isFdBind(spec)) await prepareUnixPath(spec, log);
  const args: net.ListenOptions | { fd: number } = isFdBind(spec)
    ? { fd: spec.fd }
    : spec.scheme === 'unix' ? { path: spec.path!, backlog: spec.backlog } : { host: spec.host!, port: spec.port!, backlog: spec.backlog };
  // Listen errors arrive asynchronously: photograph this frame's values now, for the dump later.
  const snapshot = diagnostics?.snapshot('listen');
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const coded = listenError(err, spec);
      if (diagnostics) {
        diagnostics.report(coded, { phase: 'listen', kind: 'listen', snapshot, context: { uri: spec.uri, ...args, somaxconn } });
        Object.defineProperty(coded, kDumped, { value: true });
      }
      reject(coded);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // A socket the primary keeps gets this bind's backlog; systemd's keeps node's default, as before.
    if (isFdBind(spec)) listenOnOwnFd(server, spec.fd, spec.kept ? spec.backlog : undefined);
    else server.listen(args as net.ListenOptions);
  });
  if (spec.scheme === 'unix' && spec.mode !== null && !spec.path!.startsWith('\0') && !isFdBind(spec)) chmodSync(spec.path!, spec.mode);
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : null;
  log.debug({ uri: spec.uri, port }, 'bound');
  if (isFdBind(spec) && !spec.kept) return { spec, server, url: inheritedUrl(address) ?? spec.uri, port };
  return { spec, server, url: bindUrl(spec, port ?? undefined), port };
}

/** A bind the cluster primary bound once and holds for its whole life; each worker listens on a copy of `fd`. */
export interface KeptBind {
  readonly spec: BindSpec;
  readonly fd: number;
  /** The URL it serves on (a port-0 bind's port resolved, once, for the primary's life). */
  readonly url: string;
  /** Closes the primary's copy: the socket closes once no worker holds one (a unix socket's file is removed now). */
  close(): void;
  /** listen(2) with `backlog`, the primary accepting nothing (node-http.ts bindWithoutListening): null or the OS error code; throws where this node cannot. */
  listen(backlog: number): string | null;
}

/**
 * Binds `spec` for a cluster's workers. First a real listen, closed at once, so every listen
 * error (EADDRINUSE with the port's holder, EACCES, a missing folder, a live unix socket) fails
 * in the primary with its coded error and dump, as in single mode; then the socket the primary
 * keeps, bound to the address and port that listen got (a host name resolved, port 0 resolved
 * once), not listening: a process whose libuv listens accepts too, and the primary never serves
 * (node-http.ts bindWithoutListening). cluster/listeners.ts listenKept puts it in LISTEN state
 * before the first fork and it stays there while the primary holds it: connections made while no
 * worker listens (the first boot, a respawn) wait in its backlog.
 */
export async function bindForWorkers(spec: BindSpec, log: Logger, diagnostics: DiagnosticsHook | null = null): Promise<KeptBind> {
  const probe = await createHttpServer(spec);
  const { url, port } = await listen(spec, probe, log, diagnostics);
  const address = probe.address();
  await new Promise((r) => probe.close(r));
  const snapshot = diagnostics?.snapshot('listen');
  let socket;
  try {
    socket =
      spec.scheme === 'unix' || typeof address !== 'object' || address === null
        ? bindWithoutListening(spec.path!, null, null)
        : bindWithoutListening(address.address, address.port, address.family === 'IPv6' ? 6 : 4);
  } catch (err) {
    // Only a race with another process between the two binds gets here.
    const coded = listenError(err as NodeJS.ErrnoException, { ...spec, port });
    if (diagnostics) {
      diagnostics.report(coded, { phase: 'listen', kind: 'listen', snapshot, context: { uri: spec.uri, port } });
      Object.defineProperty(coded, kDumped, { value: true });
    }
    throw coded;
  }
  if (spec.scheme === 'unix' && spec.mode !== null && !spec.path!.startsWith('\0')) chmodSync(spec.path!, spec.mode);
  log.debug({ uri: spec.uri, port, fd: socket.fd }, 'bound for the workers');
  return { spec, fd: socket.fd, url, close: socket.close, listen: socket.listen };
}

/** The URL of an inherited socket, from what it is bound to (node knows no path for a unix one). */
function inheritedUrl(address: net.AddressInfo | string | null): string | null {
  if (typeof address === 'string') return `unix://${address}`;
  if (!address) return null;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Removes a unix socket file after its server closed (libuv usually has already). */
export function removeUnixSocket(spec: BindSpec): void {
  if (spec.scheme !== 'unix' || spec.path!.startsWith('\0')) return;
  try {
    if (lstatSync(spec.path!).isSocket()) unlinkSync(spec.path!);
  } catch {
    /* already gone */
  }
}
