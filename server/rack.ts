// Created by adapters.ts (Rack apps) and lowlevel.ts (the env given to lowlevelErrorHandler);
// turns a node:http request into Rack's env hash, which it hands to the app or the handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RackEnv } from './app-types.js';

/**
 * Raw header name as the client spelled it -> its env key ("Content-Type" -> "CONTENT_TYPE",
 * "X-Id" -> "HTTP_X_ID"). Cached because names repeat across requests; bounded.
 */
const headerKeys = new Map<string, string>();
function envKey(raw: string): string {
  let key = headerKeys.get(raw);
  if (key === undefined) {
    const name = raw.toLowerCase();
    key = name === 'content-type' ? 'CONTENT_TYPE' : name === 'content-length' ? 'CONTENT_LENGTH' : `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    if (headerKeys.size < 1000) headerKeys.set(raw, key);
  }
  return key;
}

/** Host header -> [SERVER_NAME, SERVER_PORT], cached: one server sees few distinct hosts. */
const hosts = new Map<string, [string, string]>();
function splitHost(host: string | undefined, socket: Socket | undefined, encrypted: boolean): [string, string] {
  if (host) {
    let split = hosts.get(host);
    if (split === undefined) {
      const colon = host.lastIndexOf(':');
      split = colon > host.lastIndexOf(']') ? [host.slice(0, colon), host.slice(colon + 1)] : [host, encrypted ? '443' : '80'];
      if (hosts.size < 100) hosts.set(host, split);
    }
    return split;
  }
  return [socket?.localAddress ?? 'localhost', String(socket?.localPort ?? (encrypted ? 443 : 80))];
}

/** node's own cache of getpeername() on a socket, set by the first read of remoteAddress. */
type PeerCached = Socket & { _peername?: { address?: string } };
const kPeer = Symbol('tspuma.peerSocket');
/** An env whose REMOTE_ADDR is still to be read from this socket. */
type PendingEnv = RackEnv & { [kPeer]?: Socket };

/**
 * REMOTE_ADDR while nobody has asked for it: node reads a socket's peer address with a
 * getpeername() system call (about 5 µs here), which bare node:http never makes. The key is
 * still listed, copied by a spread and overwritable; the address is read on first use.
 */
const lazyRemoteAddr: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: PendingEnv): string {
    const address = this[kPeer]?.remoteAddress ?? '';
    settle(this, address);
    return address;
  },
  set(this: RackEnv, value: unknown): void {
    settle(this, value);
  },
};

/** REMOTE_ADDR becomes a plain value; Reflect, so an env the app froze answers instead of throwing. */
function settle(env: RackEnv, value: unknown): void {
  Reflect.defineProperty(env, 'REMOTE_ADDR', { value, writable: true, enumerable: true, configurable: true });
}

export function buildEnv(req: IncomingMessage, res?: ServerResponse): RackEnv {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const socket = req.socket as Socket | undefined;
  const encrypted = (socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') {
      host = raw[i + 1];
      break;
    }
  }
  const [serverName, serverPort] = splitHost(host, socket, encrypted);
  // REMOTE_ADDR is added below, as a value or read on first use.
  const env = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: q === -1 ? url : url.slice(0, q),
    QUERY_STRING: q === -1 ? '' : url.slice(q + 1),
    REQUEST_URI: url,
    SERVER_NAME: serverName,
    SERVER_PORT: serverPort,
    SERVER_PROTOCOL: req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`,
    'rack.url_scheme': encrypted ? 'https' : 'http',
    'rack.input': req,
    'tspuma.request': req,
    'tspuma.response': res,
  } as unknown as PendingEnv;
  // The connection's last request (the client asked to close, as `ab` without -k does) with the
  // address not read yet: read on first use. Otherwise a plain value: a keep-alive connection
  // reads it once, and a property defined per request would cost more than that one read.
  if (socket && res && !res.shouldKeepAlive && (socket as PeerCached)._peername === undefined) {
    env[kPeer] = socket;
    Object.defineProperty(env, 'REMOTE_ADDR', lazyRemoteAddr);
  } else env.REMOTE_ADDR = socket?.remoteAddress ?? '';
  for (let i = 0; i < raw.length; i += 2) {
    const key = envKey(raw[i]!);
    const prev = env[key];
    env[key] = prev === undefined ? raw[i + 1] : `${prev as string}${key === 'HTTP_COOKIE' ? '; ' : ', '}${raw[i + 1]}`;
  }
  return env;
}

/** The env for a request node:http could not parse: what the socket alone tells. */
export function socketEnv(socket: Socket): RackEnv {
  return {
    REQUEST_METHOD: '',
    SCRIPT_NAME: '',
    PATH_INFO: '',
    QUERY_STRING: '',
    REQUEST_URI: '',
    SERVER_NAME: socket.localAddress ?? '',
    SERVER_PORT: String(socket.localPort ?? ''),
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: socket.remoteAddress ?? '',
    'rack.url_scheme': (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'rack.input': null,
  };
}
