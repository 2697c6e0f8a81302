// Rack's env: a node:http request (or, for a request node:http could not parse, its socket)
// turned into Rack's env hash, with the client a trusted proxy named (trusted-proxy.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RackEnv } from './app-types.js';
import { keepsAlive, peerAddressKnown, peerAddressOf } from './node-http.js';
import { firstHeader, hostHeader } from './raw-headers.js';
import { requestIdWith } from './request-id.js';
import { forwardedOf } from './trusted-proxy.js';
import { parseAuthority, parseTarget, type Authority, type Target } from './authority.js';

export { firstHeader };

/**
 * Raw header name as the client spelled it -> its env key ("Content-Type" -> "CONTENT_TYPE",
 * "X-Id" -> "HTTP_X_ID"). Cached because names repeat across requests; bounded.
 */
const headerKeys = new Map<string, string>();
function envKey(raw: string): string {
  let key = headerKeys.get(raw);
  if (key === undefined) {
    const name = raw.toLowerCase();
    key = name === 'content-type' ? 'CONTENT_TYPE' : name === 'content-length' ? 'CONTENT_LENGTH' : interned(`HTTP_${name.toUpperCase().replace(/-/g, '_')}`);
    if (headerKeys.size < 1000) headerKeys.set(raw, key);
  }
  return key;
}

/**
 * `text` as V8's own copy of it (the one a property name is held as). A store of a property by a
 * freshly built name looks the name up in V8's string table every time, and its site goes
 * megamorphic (V8's KeyedStoreIC_Megamorphic) even when it always stores the same name on the
 * same shape of object; by this copy of it, the site stays monomorphic (putHeader).
 */
function interned(text: string): string {
  return Object.keys({ [text]: 0 })[0]!;
}

/**
 * The previous request's header names and their keys, by position. A client sends the same
 * names in the same order on every request, and comparing two short strings is cheaper than
 * hashing a new one for the Map (the profile's largest share of building an env). `seenRepeat`:
 * whether that name's key came at an earlier position too (a repeated header, joined), which holds
 * for this request while every earlier position matched as well, so the env need not be read
 * before each write (a keyed load that misses walks up to Object.prototype).
 */
const seenNames: string[] = [];
const seenKeys: string[] = [];
const seenRepeat: boolean[] = [];
const seenRoles: number[] = [];
const SEEN_MAX = 64;

/**
 * What a header is to the env besides its key: the Host that names SERVER_NAME and SERVER_PORT,
 * the X-Request-Id the request's id may be, or neither. Told by the name as the client spelled it
 * (as firstHeader tells them: `X_Request_Id` has X-Request-Id's key, not its role), once per name
 * and position, so the env takes both from its one pass over rawHeaders.
 */
const OTHER = 0;
const HOST = 1;
const REQUEST_ID = 2;
function roleOf(name: string): number {
  if (name.length === 4) return name === 'Host' || name.toLowerCase() === 'host' ? HOST : OTHER;
  if (name.length === 12) return name === 'X-Request-Id' || name.toLowerCase() === 'x-request-id' ? REQUEST_ID : OTHER;
  return OTHER;
}

/** SERVER_PORT as text for the last authority and scheme (the same on almost every request). */
let lastPortOf: Authority | null = null;
let lastPortEncrypted = false;
let lastPortText = '';
function portText(authority: Authority, encrypted: boolean): string {
  if (authority === lastPortOf && encrypted === lastPortEncrypted) return lastPortText;
  lastPortOf = authority;
  lastPortEncrypted = encrypted;
  return (lastPortText = String(authority.port ?? (encrypted ? 443 : 80)));
}

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

/** What a target node:http passed but admission would refuse leaves to the env: the raw path. */
function fallbackTarget(url: string): Target {
  const q = url.indexOf('?');
  return { authority: null, scheme: null, path: q === -1 ? url : url.slice(0, q), query: q === -1 ? '' : url.slice(q + 1), hasQuery: q !== -1 };
}

/**
 * The authority a request names (authority.ts validated it): a trusted proxy's host, else an
 * absolute-form target's own, else Host; null when none is valid (then the bound address).
 */
export function requestAuthority(req: IncomingMessage, target: Target, forwardedHost: string | null | undefined): Authority | null {
  if (forwardedHost) return parseAuthority(forwardedHost);
  if (target.authority) return target.authority;
  const host = hostHeader(req);
  return host ? parseAuthority(host) : null;
}

/** A request target as the env takes it: parsed, and without its fragment (REQUEST_URI). */
interface EnvTarget {
  readonly url: string;
  readonly target: Target;
  readonly uri: string;
}

/** The last target parsed (a keep-alive client asks for the same path request after request). */
let lastTarget: EnvTarget = { url: '', target: fallbackTarget(''), uri: '' };
function targetOf(url: string): EnvTarget {
  if (url === lastTarget.url) return lastTarget;
  const hash = url.indexOf('#');
  return (lastTarget = { url, target: parseTarget(url) ?? fallbackTarget(url), uri: hash === -1 ? url : url.slice(0, hash) });
}

export function buildEnv(req: IncomingMessage, res?: ServerResponse): RackEnv {
  const url = req.url ?? '/';
  const { target, uri } = targetOf(url);
  const socket = req.socket as Socket | undefined;
  // Set only with trustProxy, from a trusted peer: the client's address, scheme and host.
  const forwarded = forwardedOf(req);
  const encrypted = forwarded?.scheme ? forwarded.scheme === 'https' : target.scheme ? target.scheme === 'https' : (socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const raw = req.rawHeaders;
  // SERVER_NAME, SERVER_PORT and the id are set after the pass over the headers, which finds the
  // Host and X-Request-Id they are made from; REMOTE_ADDR below, as a value or read on first use.
  // Every key is here from the start, in the env's order.
  const env = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: target.path,
    QUERY_STRING: target.query,
    REQUEST_URI: uri,
    SERVER_NAME: '',
    SERVER_PORT: '',
    // By node's numbers: its httpVersion text is a new string a request (a compare of its characters).
    SERVER_PROTOCOL: req.httpVersionMajor === 1 && req.httpVersionMinor === 1 ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`,
    'rack.url_scheme': encrypted ? 'https' : 'http',
    'rack.input': req,
    'tspuma.request': req,
    'tspuma.response': res,
    'tspuma.request_id': '',
    REMOTE_ADDR: '',
  } as unknown as PendingEnv;
  // The connection's last request (the client asked to close, as `ab` without -k does) with the
  // address not read yet: read on first use. Otherwise a plain value: a keep-alive connection
  // reads it once, and a property defined per request would cost more than that one read; from
  // then on from node's cache (peerAddressOf), without node's getter.
  if (forwarded) env.REMOTE_ADDR = forwarded.address;
  else if (socket && res && !keepsAlive(res) && !peerAddressKnown(socket)) {
    env[kPeer] = socket;
    Object.defineProperty(env, 'REMOTE_ADDR', lazyRemoteAddr);
  } else env.REMOTE_ADDR = (socket ? peerAddressOf(socket) : undefined) ?? '';
  let host: string | undefined; // the first Host line's value
  let incomingId: string | undefined; // the first X-Request-Id line's
  let matched = true; // every position so far had the previous request's name
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const position = i >> 1;
    let key: string;
    let repeat: boolean;
    let role: number;
    if (matched && position < SEEN_MAX && seenNames[position] === name) {
      key = seenKeys[position]!;
      repeat = seenRepeat[position]!;
      role = seenRoles[position]!;
    } else {
      matched = false;
      key = envKey(name);
      repeat = env[key] !== undefined;
      role = roleOf(name);
      if (position < SEEN_MAX) {
        seenNames[position] = name;
        seenKeys[position] = key;
        seenRepeat[position] = repeat;
        seenRoles[position] = role;
      }
    }
    if (role !== OTHER) {
      if (role === HOST) host ??= value;
      else incomingId ??= value;
    }
    putHeader(env, position, key, repeat ? `${env[key] as string}${key === 'HTTP_COOKIE' ? '; ' : ', '}${value}` : value);
  }
  const authority = forwarded?.host || target.authority ? requestAuthority(req, target, forwarded?.host) : host ? parseAuthority(host) : null;
  if (authority) {
    env.SERVER_NAME = authority.hostname;
    env.SERVER_PORT = portText(authority, encrypted);
  } else {
    env.SERVER_NAME = socket?.localAddress ?? 'localhost';
    env.SERVER_PORT = String(socket?.localPort ?? (encrypted ? 443 : 80));
  }
  env['tspuma.request_id'] = requestIdWith(req, incomingId);
  return env;
}

/**
 * env[key] = value, from a store site of the header's position for the first eight: a client
 * sends the same names in the same order on every request, so each site sees one name and one
 * shape of env (a monomorphic store V8 compiles inline), where one site for every header saw
 * them all and went megamorphic (V8's KeyedStoreIC_Megamorphic: about 220 instructions a header,
 * adding the property through the stub cache).
 */
function putHeader(env: PendingEnv, position: number, key: string, value: string): void {
  switch (position) {
    case 0:
      env[key] = value;
      return;
    case 1:
      env[key] = value;
      return;
    case 2:
      env[key] = value;
      return;
    case 3:
      env[key] = value;
      return;
    case 4:
      env[key] = value;
      return;
    case 5:
      env[key] = value;
      return;
    case 6:
      env[key] = value;
      return;
    case 7:
      env[key] = value;
      return;
    default:
      env[key] = value;
  }
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
