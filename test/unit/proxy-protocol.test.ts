// The PROXY protocol: the header parser (v1, v2, split anywhere, malformed, over-long), and a bind
// with ?proxy_protocol= that gives the app the header's client and closes bad connections first.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener, rack } from '../../server/adapters.js';
import { parseBind } from '../../server/binder-uri.js';
import { TspumaError } from '../../server/errors.js';
import { parseProxyHeader, V1_MAX, V2_MAX_LENGTH, type ProxyProtocolMode } from '../../server/proxy-protocol.js';
import { rawRequest, statusOf, waitFor } from '../helpers/net.js';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const HTTP = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | cmd;
  head[1] = fam;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}
function v2ipv4(src: string, dst: string, sport: number, dport: number, tlv = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  dst.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return v2(1, 0x11, Buffer.concat([b, tlv]));
}

/** Feeds `bytes` one more byte at a time: 'more' until the last one, whatever the split. */
function feedByteByByte(bytes: Buffer, mode: ProxyProtocolMode) {
  for (let n = 1; n < bytes.length; n++) expect(parseProxyHeader(bytes.subarray(0, n), mode).kind, `after ${n} bytes`).toBe('more');
  return parseProxyHeader(bytes, mode);
}

describe('parseProxyHeader', () => {
  it('reads a v1 TCP4 and TCP6 header and returns the bytes after it', () => {
    const step = parseProxyHeader(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n'), HTTP]), 'v1');
    expect(step).toEqual({ kind: 'done', header: { version: 1, source: { address: '203.0.113.7', port: 5555, family: 'IPv4' }, destination: { address: '10.0.0.1', port: 80, family: 'IPv4' } }, rest: HTTP });
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 65535 443\r\n'), 'auto');
    expect(six.kind === 'done' && six.header.source).toEqual({ address: '2001:db8::1', port: 65535, family: 'IPv6' });
  });

  it('reads a v1 or v2 header split at every byte', () => {
    const one = feedByteByByte(Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n'), 'v1');
    expect(one.kind === 'done' && one.header.source?.address).toBe('192.0.2.1');
    const two = feedByteByByte(v2ipv4('198.51.100.9', '10.0.0.1', 1234, 80), 'auto');
    expect(two.kind === 'done' && two.header.source).toEqual({ address: '198.51.100.9', port: 1234, family: 'IPv4' });
  });

  it('reads v2 IPv6 addresses in node\'s spelling, skips TLVs, and keeps the peer for LOCAL and UNKNOWN', () => {
    const addrs = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000017', 'hex').copy(addrs, 0);
    addrs[31] = 1;
    addrs.writeUInt16BE(4711, 32);
    addrs.writeUInt16BE(443, 34);
    const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]); // PP2_TYPE_NOOP, 2 bytes
    const step = parseProxyHeader(Buffer.concat([v2(1, 0x21, Buffer.concat([addrs, tlv])), HTTP]), 'v2');
    expect(step.kind === 'done' && step.header.source).toEqual({ address: '2001:db8::17', port: 4711, family: 'IPv6' });
    expect(step.kind === 'done' && step.rest).toEqual(HTTP);
    const local = parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)), 'v2');
    expect(local).toMatchObject({ kind: 'done', header: { version: 2, source: null } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'v1')).toMatchObject({ kind: 'done', header: { version: 1, source: null } });
  });

  it('refuses malformed headers with the reason', () => {
    const reason = (text: string | Buffer, mode: ProxyProtocolMode = 'auto') => {
      const step = parseProxyHeader(typeof text === 'string' ? Buffer.from(text) : text, mode);
      return step.kind === 'error' ? step.reason : `not an error: ${step.kind}`;
    };
    expect(reason('PROXY TCP4 300.1.1.1 10.0.0.1 1 2\r\n')).toContain('"300.1.1.1" in the v1 header is not an IPv4 address');
    expect(reason('PROXY TCP4 1.1.1.1 10.0.0.1 1 70000\r\n')).toContain('ports');
    expect(reason('PROXY UDP4 1.1.1.1 10.0.0.1 1 2\r\n')).toContain('"UDP4" is not TCP4, TCP6 or UNKNOWN');
    expect(reason('GET / HTTP/1.1\r\n')).toContain('expected a PROXY protocol v1 or v2 header, got "GET / HT" and more');
    expect(reason('PROXY TCP4 1.1.1.1 10.0.0.1 1 2\r\n', 'v2')).toBe('expected a PROXY protocol v2 header, got a v1 header');
    expect(reason(v2ipv4('1.1.1.1', '2.2.2.2', 1, 2), 'v1')).toBe('expected a PROXY protocol v1 header, got a v2 header');
    expect(reason(v2(1, 0x11, Buffer.alloc(4)))).toContain('need 12 bytes');
    expect(reason(Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 0])]))).toContain('version nibble is 3');
  });

  it('refuses an over-long header as soon as it is known to be one', () => {
    const long = Buffer.from(`PROXY ${'x'.repeat(V1_MAX)}`);
    expect(parseProxyHeader(long.subarray(0, V1_MAX - 1), 'v1').kind).toBe('more');
    expect(parseProxyHeader(long.subarray(0, V1_MAX), 'v1')).toEqual({ kind: 'error', reason: `the v1 header has no CRLF within ${V1_MAX} bytes` });
    const head = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 0])]);
    head.writeUInt16BE(V2_MAX_LENGTH + 1, 14);
    expect(parseProxyHeader(head, 'v2')).toEqual({ kind: 'error', reason: `the v2 header announces ${V2_MAX_LENGTH + 1} bytes of addresses and TLVs; at most ${V2_MAX_LENGTH}` });
  });
});

describe('?proxy_protocol= in a bind URI', () => {
  it('takes v1, v2 or auto on tcp:// and unix://, and nothing on ssl:// or by default', () => {
    expect(parseBind('tcp://127.0.0.1:0?proxy_protocol=v2', 'x').proxyProtocol).toBe('v2');
    expect(parseBind('unix:///tmp/x.sock?proxy_protocol=auto', 'x').proxyProtocol).toBe('auto');
    expect(parseBind('tcp://127.0.0.1:0', 'x').proxyProtocol).toBeNull();
    const bad = (uri: string) => {
      try {
        parseBind(uri, '-b in command line');
      } catch (err) {
        return err as TspumaError;
      }
      throw new Error('expected a TspumaError');
    };
    expect(bad('tcp://127.0.0.1:0?proxy_protocol=v3').message).toContain('proxy_protocol="v3" must be one of v1, v2, auto');
    expect(bad('tcp://127.0.0.1:0?proxy_protocol=v3').code).toBe('TSPUMA_ERR_BIND_URI');
    expect(bad('ssl://127.0.0.1:0?proxy_protocol=v1&cert=a&key=b').message).toContain('proxy_protocol is not supported on ssl://');
  });
});

/** Writes each part on one connection, the next after the previous write completed; resolves with all the server sent. */
function sendInParts(port: number, parts: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    const next = (i: number): void => {
      if (i < parts.length) socket.write(parts[i]!, () => setImmediate(() => next(i + 1)));
    };
    socket.on('connect', () => next(0));
  });
}

describe('a bind with proxy_protocol', () => {
  const calls: string[] = [];
  const app = rack((env) => {
    calls.push(String(env.REMOTE_ADDR));
    return [200, { connection: 'close' }, [`client ${env.REMOTE_ADDR}`]];
  });
  afterEach(() => {
    calls.length = 0;
  });

  it('gives the app the v1 source address, with the header and request sent in pieces', async () => {
    const t = await startTest({ app, bind: 'tcp://127.0.0.1:0?proxy_protocol=v1' });
    const reply = await sendInParts(t.port, [Buffer.from('PROXY TCP4 203.0'), Buffer.from('.113.7 10.0.0.1 5555 80\r'), Buffer.from('\nGET / HTTP/1.1\r\nHost: x\r\n'), Buffer.from('\r\n')]);
    expect(statusOf(reply)).toBe(200);
    expect(reply).toContain('client 203.0.113.7');
  });

  it('gives a Node listener the v2 source as req.socket.remoteAddress, the header and request in one segment', async () => {
    const listener = nodeListener((req, res) => res.end(`${req.socket.remoteAddress}:${req.socket.remotePort}`));
    const t = await startTest({ app: listener, bind: 'tcp://127.0.0.1:0?proxy_protocol=auto' });
    const reply = await rawRequest(t.port, Buffer.concat([v2ipv4('198.51.100.9', '10.0.0.1', 1234, 80), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    expect(statusOf(reply.text)).toBe(200);
    expect(reply.text).toContain('198.51.100.9:1234');
  });

  it('closes a connection with a malformed header before the app, with a coded warning', async () => {
    const t = await startTest({ app, bind: 'tcp://127.0.0.1:0?proxy_protocol=v1' });
    const reply = await rawRequest(t.port, 'PROXY TCP4 1.2.3 10.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(reply).toEqual({ text: '', closed: true });
    const warning = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_PROXY_PROTOCOL'), 'the warning');
    expect(warning.msg).toContain('"1.2.3" in the v1 header is not an IPv4 address');
    expect(warning.remote).toBe('127.0.0.1');
    expect(calls).toEqual([]);
  });

  it('closes a connection whose header runs past 107 bytes without CRLF, before the app', async () => {
    const t = await startTest({ app, bind: 'tcp://127.0.0.1:0?proxy_protocol=v1' });
    const reply = await rawRequest(t.port, `PROXY TCP4 ${'1'.repeat(200)}`);
    expect(reply).toEqual({ text: '', closed: true });
    const warning = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_PROXY_PROTOCOL'), 'the warning');
    expect(warning.msg).toContain('no CRLF within 107 bytes');
    expect(calls).toEqual([]);
  });

  it('closes a connection whose header is not complete within firstDataTimeout', async () => {
    const t = await startTest({ app, bind: 'tcp://127.0.0.1:0?proxy_protocol=v2', firstDataTimeout: 0.2 });
    const reply = await rawRequest(t.port, SIG.subarray(0, 5), 5000);
    expect(reply.closed).toBe(true);
    const warning = await waitFor(() => t.lines.find((l) => l.code === 'TSPUMA_ERR_PROXY_PROTOCOL'), 'the warning');
    expect(warning.msg).toContain('no complete header within 0.2 s (5 bytes arrived)');
  });

  it('leaves a bind without the option unchanged: a PROXY line there is a bad request', async () => {
    const t = await startTest({ app, bind: 'tcp://127.0.0.1:0' });
    const plain = await rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(plain.text).toContain('client 127.0.0.1');
    const proxied = await rawRequest(t.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(proxied.text)).toBe(400);
    expect(calls).toEqual(['127.0.0.1']);
  });
});

describe('PROXY protocol refusals', () => {
  it('refuses a v2 header whose family/transport byte names no known family (0x41) or transport (0x13)', () => {
    const body = Buffer.alloc(12);
    for (const fam of [0x41, 0x13, 0xf1]) {
      const step = parseProxyHeader(Buffer.concat([v2(1, fam, body), HTTP]), 'v2');
      expect(step.kind, `family byte 0x${fam.toString(16)}`).toBe('error');
      expect(step.kind === 'error' && step.reason).toContain(`0x${fam.toString(16)}`);
    }
    // UNSPEC, unix and datagram stay accepted (the connection keeps its peer).
    for (const fam of [0x00, 0x31, 0x12]) expect(parseProxyHeader(v2(1, fam, Buffer.alloc(216)), 'v2').kind).toBe('done');
  });

  it('logs refusals at the 1st, 10th and 100th connection, not one warn line each', async () => {
    const t = await startTest({ app: rack(() => [200, {}, ['ok']]), bind: 'tcp://127.0.0.1:0?proxy_protocol=v1' });
    for (let i = 0; i < 120; i += 20) await Promise.all(Array.from({ length: 20 }, () => rawRequest(t.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
    const warned = () => t.lines.filter((l) => l.code === 'TSPUMA_ERR_PROXY_PROTOCOL' && l.level === 40);
    await waitFor(() => warned().length >= 3, 'three warn lines');
    expect(warned().map((l) => l.count)).toEqual([1, 10, 100]);
  });
});
