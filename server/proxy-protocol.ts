// The PROXY protocol (HAProxy's, versions 1 and 2) on a bind that asks for it: reads the header a
// load balancer sends before the first HTTP byte, makes its source address the connection's
// remote address, hands the rest of the bytes to node:http, and closes a connection whose header
// is malformed, too long or late before any of it reaches the app.
import type http from 'node:http';
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { TspumaError } from './errors.js';
import { holdConnections, replacePeer } from './node-http.js';
import { Throttle } from './side-listener.js';

import type { ProxyProtocolMode } from './binder-uri.js';

export { PROXY_PROTOCOL_MODES, type ProxyProtocolMode } from './binder-uri.js';

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** null: the proxy speaks for itself (v2 LOCAL, a health check) or gave no address it could (v1 UNKNOWN, v2 UNSPEC or unix): the connection keeps its own peer. */
  readonly source: ProxyEndpoint | null;
  readonly destination: ProxyEndpoint | null;
}

export type ParseStep =
  | { readonly kind: 'more' }
  | { readonly kind: 'done'; readonly header: ProxyHeader; readonly rest: Buffer }
  | { readonly kind: 'error'; readonly reason: string };

/** The v1 line's maximum, CRLF included (the spec's 107 bytes). */
export const V1_MAX = 107;
/** The v2 header's address and TLV block is at most this long here (addresses are 216 bytes at most; TLVs carry TLS and cloud metadata). */
export const V2_MAX_LENGTH = 4096;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const MORE: ParseStep = { kind: 'more' };

/** `buf` (all that arrived so far) begins with as much of `prefix` as it holds. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/** The first bytes only: a request line's query could carry a secret. */
const printable = (buf: Buffer): string => `${JSON.stringify(buf.subarray(0, 8).toString('latin1'))}${buf.length > 8 ? ' and more' : ''}`;

/**
 * Reads a PROXY header from the bytes that arrived so far: 'more' until it can decide, then the
 * header and the bytes after it, or why the bytes are not one. Stateless: call it again with
 * the bytes so far plus the new ones.
 */
export function parseProxyHeader(buf: Buffer, mode: ProxyProtocolMode): ParseStep {
  if (buf.length === 0) return MORE;
  const v1 = startsLike(buf, V1_PREFIX);
  const v2 = startsLike(buf, V2_SIGNATURE);
  if (v1 && mode !== 'v2') return parseV1(buf);
  if (v2 && mode !== 'v1') return parseV2(buf);
  const expected = mode === 'auto' ? 'a PROXY protocol v1 or v2 header' : `a PROXY protocol ${mode} header`;
  const got = v1 ? 'a v1 header' : v2 ? 'a v2 header' : printable(buf);
  return { kind: 'error', reason: `expected ${expected}, got ${got}` };
}

function port(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

function parseV1(buf: Buffer): ParseStep {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end === -1) {
    if (buf.length >= V1_MAX) return { kind: 'error', reason: `the v1 header has no CRLF within ${V1_MAX} bytes` };
    return MORE;
  }
  if (end + 2 > V1_MAX) return { kind: 'error', reason: `the v1 header is ${end + 2} bytes; at most ${V1_MAX}` };
  const line = buf.toString('latin1', 0, end);
  const rest = buf.subarray(end + 2);
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'done', header: { version: 1, source: null, destination: null }, rest };
  if (parts.length !== 6) return { kind: 'error', reason: `the v1 header ${JSON.stringify(line)} is not "PROXY TCP4|TCP6 SRC DST SPORT DPORT"` };
  const family = parts[1] === 'TCP4' ? 'IPv4' : parts[1] === 'TCP6' ? 'IPv6' : null;
  if (family === null) return { kind: 'error', reason: `the v1 protocol ${JSON.stringify(parts[1])} is not TCP4, TCP6 or UNKNOWN` };
  const isFamily = family === 'IPv4' ? net.isIPv4 : net.isIPv6;
  for (const address of [parts[2]!, parts[3]!]) {
    if (!isFamily(address)) return { kind: 'error', reason: `${JSON.stringify(address)} in the v1 header is not an ${family} address` };
  }
  const sport = port(parts[4]);
  const dport = port(parts[5]);
  if (sport === null || dport === null) return { kind: 'error', reason: `the v1 header's ports ${JSON.stringify(`${parts[4]} ${parts[5]}`)} are not 0..65535` };
  return {
    kind: 'done',
    header: { version: 1, source: { address: parts[2]!, port: sport, family }, destination: { address: parts[3]!, port: dport, family } },
    rest,
  };
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  // node's own spelling (compressed), so it compares equal to socket.remoteAddress of the same peer.
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function parseV2(buf: Buffer): ParseStep {
  if (buf.length < 16) return MORE;
  const version = buf[12]! >> 4;
  const command = buf[12]! & 0x0f;
  if (version !== 2) return { kind: 'error', reason: `the v2 header's version nibble is ${version}, not 2` };
  if (command > 1) return { kind: 'error', reason: `the v2 header's command is ${command}, not LOCAL (0) or PROXY (1)` };
  const length = buf.readUInt16BE(14);
  if (length > V2_MAX_LENGTH) return { kind: 'error', reason: `the v2 header announces ${length} bytes of addresses and TLVs; at most ${V2_MAX_LENGTH}` };
  if (buf.length < 16 + length) return MORE;
  const rest = buf.subarray(16 + length);
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (command === 0) return { kind: 'done', header: { version: 2, source: null, destination: null }, rest };
  // The spec's families are UNSPEC (0), INET (1), INET6 (2) and UNIX (3), its transports UNSPEC
  // (0), STREAM (1) and DGRAM (2): anything else is not a PROXY header this server understands.
  if (family > 3 || transport > 2) return { kind: 'error', reason: `the v2 header's address family and transport byte 0x${buf[13]!.toString(16).padStart(2, '0')} names no known family (0-3) and transport (0-2)` };
  // Only stream (TCP) addresses name an HTTP client; UNSPEC, unix and datagram keep the peer.
  if (transport !== 1 || (family !== 1 && family !== 2)) return { kind: 'done', header: { version: 2, source: null, destination: null }, rest };
  const need = family === 1 ? 12 : 36;
  if (length < need) return { kind: 'error', reason: `the v2 header's ${family === 1 ? 'IPv4' : 'IPv6'} addresses need ${need} bytes; it announces ${length}` };
  let source: ProxyEndpoint;
  let destination: ProxyEndpoint;
  if (family === 1) {
    const ip = (at: number) => `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
    source = { address: ip(16), port: buf.readUInt16BE(24), family: 'IPv4' };
    destination = { address: ip(20), port: buf.readUInt16BE(26), family: 'IPv4' };
  } else {
    source = { address: ipv6(buf, 16), port: buf.readUInt16BE(48), family: 'IPv6' };
    destination = { address: ipv6(buf, 32), port: buf.readUInt16BE(50), family: 'IPv6' };
  }
  return { kind: 'done', header: { version: 2, source, destination }, rest };
}

/** The proxy's own address on a connection whose remote address the PROXY header replaced. */
const kProxyPeer = Symbol('tspuma.proxyPeer');

/** The load balancer's address when a PROXY header named the client, else null. */
export function proxyPeerOf(socket: Socket): string | null {
  return (socket as { [kProxyPeer]?: string })[kProxyPeer] ?? null;
}

/**
 * The header's source becomes the socket's remoteAddress, remotePort and remoteFamily (own
 * properties over node:net's getters), so every reader (REMOTE_ADDR, the request log, a
 * framework's req.ip, trustProxy's first hop) sees the client, not the load balancer.
 */
function adoptSource(socket: Socket, source: ProxyEndpoint): void {
  const peer = socket.remoteAddress ?? '';
  Object.defineProperty(socket, kProxyPeer, { value: peer });
  replacePeer(socket, source);
}

export interface ProxyProtocolContext {
  readonly uri: string;
  readonly mode: ProxyProtocolMode;
  /** A connection whose header is not complete after this long is closed. */
  readonly timeoutMs: number;
  readonly log: Logger;
}

/**
 * Holds each new connection of `server` until its PROXY header is read: node:http (and every other
 * `connection` listener) sees it only then, with the bytes after the header put back in front.
 */
export function acceptProxyProtocol(server: http.Server, ctx: ProxyProtocolContext): void {
  // Refusals are logged at the 1st, 10th, 100th... per bind, as discovery's are: a client opening
  // thousands of connections without a header cannot fill the log.
  const throttle = new Throttle();
  holdConnections(server, (socket, release) => {
    readHeader(socket, ctx, throttle, (rest) => {
      // Put the bytes after the header back for node:http's parser, paused so none is emitted
      // before its data listener exists; resumed once it does.
      if (rest.length > 0) socket.unshift(rest);
      release();
      socket.resume();
    });
  });
}

function readHeader(socket: Socket, ctx: ProxyProtocolContext, throttle: Throttle, done: (rest: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onSocketError);
    socket.off('end', onEnd);
  };
  const fail = (reason: string): void => {
    finish();
    const err = new TspumaError('TSPUMA_ERR_PROXY_PROTOCOL', { uri: ctx.uri, remote: socket.remoteAddress ?? '-', reason });
    const count = throttle.hit('refused');
    if (count !== null) ctx.log.warn({ code: err.code, uri: ctx.uri, remote: socket.remoteAddress, count }, `${err.message}${count > 1 ? ` (${count} connections refused so far)` : ''}`);
    else ctx.log.debug({ code: err.code, uri: ctx.uri, remote: socket.remoteAddress }, err.message);
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const step = parseProxyHeader(buf, ctx.mode);
    if (step.kind === 'more') return;
    if (step.kind === 'error') return fail(step.reason);
    finish();
    socket.pause();
    if (step.header.source) adoptSource(socket, step.header.source);
    done(step.rest);
  };
  const onSocketError = (): void => {
    finish();
    socket.destroy();
  };
  const onEnd = (): void => fail(buf.length === 0 ? 'the connection closed before a header' : `the connection closed after ${buf.length} bytes of an unfinished header`);
  const timer = setTimeout(() => fail(`no complete header within ${ctx.timeoutMs / 1000} s (${buf.length} bytes arrived)`), ctx.timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.on('error', onSocketError);
  socket.on('end', onEnd);
}
