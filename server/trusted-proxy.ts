// Trusted proxies (`trustProxy`): which peers may say who the client is, and, for a request
// from one, the client's address, scheme and host read from X-Forwarded-For/-Proto/-Host or
// Forwarded, walking the proxy chain from the nearest hop outwards while each hop is trusted.
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { parseAuthority } from './authority.js';
import { peerAddressOf } from './node-http.js';

const require = createRequire(import.meta.url);
/** proxy-addr, loaded by the first trust list (a server without trustProxy never loads it). */
let proxyaddr: typeof import('proxy-addr') | null = null;

/** trust(address, hop): hop 0 is the connection's peer, 1 the address it forwarded for, ... */
export type Trust = (address: string, hop: number) => boolean;
/** The headers a trusted proxy's word is read from; the other family is ignored. */
export type ForwardedHeaders = 'x-forwarded' | 'forwarded';
export const FORWARDED_HEADERS: readonly ForwardedHeaders[] = ['x-forwarded', 'forwarded'];

/**
 * The names a trust list takes: proxy-addr's for address ranges, and `unix`, the peer of a unix
 * socket (a proxy on the same host, nginx's `server unix:…`), which has no address to name.
 */
export const TRUST_NAMES = ['loopback', 'linklocal', 'uniquelocal', 'unix'] as const;

/**
 * The trust list (addresses, CIDRs, the names above) as a function; throws an Error naming the
 * entry that is none of them.
 */
export function compileTrust(list: readonly string[]): Trust {
  proxyaddr ??= require('proxy-addr') as typeof import('proxy-addr');
  const ranges = list.filter((entry) => entry !== 'unix');
  for (const entry of ranges) {
    try {
      proxyaddr.compile(entry);
    } catch {
      throw new Error(`${JSON.stringify(entry)} is not an IP address, a CIDR range or one of ${TRUST_NAMES.join(', ')}`);
    }
  }
  const byAddress: Trust = ranges.length > 0 ? proxyaddr.compile(ranges) : () => false;
  // A unix socket's peer is the hop-0 address '' (resolveClient); a forwarded hop always has one.
  return ranges.length === list.length ? byAddress : (address, hop) => (address === '' ? hop === 0 : byAddress(address, hop));
}

export interface ForwardedClient {
  /** The client's address: the first hop, walking outwards, that is not a trusted proxy. */
  readonly address: string;
  /** The scheme the client used, when a trusted proxy said (http or https). */
  readonly scheme: 'http' | 'https' | null;
  /** The Host the client sent, when a trusted proxy said (HOST or HOST:PORT). */
  readonly host: string | null;
}

const kForwarded = Symbol('tspuma.forwarded');
type Marked = IncomingMessage & { [kForwarded]?: ForwardedClient; clientAddress?: string };

/** What resolveClient found for `req`; undefined without trustProxy or when its peer is not trusted. */
export function forwardedOf(req: IncomingMessage): ForwardedClient | undefined {
  return (req as Marked)[kForwarded];
}

/** The client address for the request log and dumps: the forwarded one, else the peer. */
export function clientAddressOf(req: IncomingMessage): string | undefined {
  return (req as Marked)[kForwarded]?.address ?? (req.socket ? peerAddressOf(req.socket) : undefined);
}

/**
 * Called per request only when trustProxy is set: from a trusted peer, records the forwarded
 * client for the Rack env, the fetch Request and the logs; always sets `req.clientAddress`
 * (the forwarded client, or the peer itself), the place Node listeners read it from.
 */
export function resolveClient(req: IncomingMessage, trust: Trust, headers: ForwardedHeaders): void {
  const peer = (req.socket ? peerAddressOf(req.socket) : undefined) ?? '';
  const marked = req as Marked;
  marked.clientAddress = peer;
  if (!trust(peer, 0)) return; // '' (a unix socket's peer): trusted only by the name unix
  const client = headers === 'forwarded' ? fromForwarded(req, peer, trust) : fromXForwarded(req, peer, trust);
  marked[kForwarded] = client;
  marked.clientAddress = client.address;
}

/** All values of one header, joined as node:http would ("a, b"); null when absent. */
function headerList(req: IncomingMessage, name: string): string | null {
  const raw = req.rawHeaders;
  let out: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out = out === null ? raw[i + 1]! : `${out}, ${raw[i + 1]}`;
  }
  return out;
}

/** A hop as a proxy wrote it ("1.2.3.4", "1.2.3.4:5678", "[::1]:80", "::1") → the address, or null. */
export function hopAddress(text: string): string | null {
  let t = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(t);
  if (bracketed) t = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(t)) t = t.slice(0, t.indexOf(':'));
  return net.isIP(t) !== 0 ? t : null;
}

/**
 * Walks the hops from the peer outwards: a trusted hop's word names the next one, until a hop
 * that is not trusted (the client), the end of the list (the outermost address), or a word that
 * is not an address (then the last trusted hop is all that is known). Returns the client and the
 * index of the last hop whose word was read (-1: none).
 */
function walk(peer: string, hops: readonly (string | null)[], trust: Trust): { address: string; read: number } {
  let address = peer;
  let read = -1;
  for (let i = 0; i < hops.length; i++) {
    if (!trust(address, i)) break;
    read = i;
    const next = hops[i];
    if (next === null || next === undefined) break;
    address = next;
  }
  return { address, read };
}

const scheme = (text: string | null | undefined): 'http' | 'https' | null => {
  const s = text?.trim().toLowerCase();
  return s === 'http' || s === 'https' ? s : null;
};
/** A forwarded host, kept only when it is one valid authority (authority.ts, as Host is checked). */
const hostOf = (text: string | null | undefined): string | null => {
  const s = text?.trim();
  return s && parseAuthority(s) !== null ? s : null;
};
const lastOf = (list: string | null): string | null => (list === null ? null : list.slice(list.lastIndexOf(',') + 1));

function fromXForwarded(req: IncomingMessage, peer: string, trust: Trust): ForwardedClient {
  const xff = headerList(req, 'x-forwarded-for');
  // Nearest proxy first: the rightmost entry was appended by the peer.
  const hops = xff === null ? [] : xff.split(',').reverse().map(hopAddress);
  const { address } = walk(peer, hops, trust);
  // Proto and host are set (not appended) by the proxy in front of tspuma: its value counts.
  return { address, scheme: scheme(lastOf(headerList(req, 'x-forwarded-proto'))), host: hostOf(lastOf(headerList(req, 'x-forwarded-host'))) };
}

/** One Forwarded element's parameters (RFC 7239), names lower-cased, quotes removed. */
export function parseForwarded(value: string): Record<string, string>[] {
  const elements: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*([;,]|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m || m[0] === '') {
      // Not a parameter: skip to the next element.
      const comma = value.indexOf(',', at);
      elements.push(current);
      current = {};
      if (comma === -1) return elements;
      at = comma + 1;
      continue;
    }
    const raw = m[2]!;
    current[m[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    at = re.lastIndex;
    if (m[3] === ',' || m[3] === '') {
      elements.push(current);
      current = {};
    }
  }
  if (Object.keys(current).length > 0) elements.push(current);
  return elements;
}

function fromForwarded(req: IncomingMessage, peer: string, trust: Trust): ForwardedClient {
  const header = headerList(req, 'forwarded');
  const elements = header === null ? [] : parseForwarded(header).reverse();
  const { address, read } = walk(peer, elements.map((e) => (e.for === undefined ? null : hopAddress(e.for))), trust);
  // The outermost element a trusted proxy added describes the connection the client made to it.
  const outer = read >= 0 ? elements[read] : undefined;
  return { address, scheme: scheme(outer?.proto), host: hostOf(outer?.host) };
}
