// Raw HTTP/1.1 exchanges for tests that need what a client sees byte for byte: a parsed response
// (status, headers, de-chunked body, whether the body was framed), a request whose client hangs up
// at a chosen point, and a head read before the body is complete.
import net from 'node:net';
import { SLOWNESS, waitFor } from './net.js';

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers keep every value. */
  headers: Record<string, string[]>;
  body: Buffer;
  /** The body ended as its framing said (Content-Length reached, or the last chunk); false: cut. */
  complete: boolean;
  /** The connection was closed by the server. */
  closed: boolean;
}

/** Parses one response from raw bytes; `noBody` for a response to HEAD. */
export function parseResponse(raw: Buffer, noBody = false): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  const rest = raw.subarray(end + 4);
  if (noBody || status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, headers, body: Buffer.alloc(0), complete: true, closed: false };
  if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol === -1) return { status, headers, body: Buffer.concat(parts), complete: false, closed: false };
      const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts), complete: true, closed: false };
      if (eol + 2 + size > rest.length) {
        parts.push(rest.subarray(eol + 2));
        return { status, headers, body: Buffer.concat(parts), complete: false, closed: false };
      }
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (headers['content-length']) {
    const length = Number(headers['content-length'][0]);
    return { status, headers, body: rest.subarray(0, length), complete: rest.length >= length, closed: false };
  }
  return { status, headers, body: rest, complete: false, closed: false };
}

/**
 * Sends `payload` on a fresh connection and reads until the server closes or `timeoutMs` passes (10 s scaled by SLOWNESS)
 * (send `Connection: close` to get the close); the reply parsed as one response.
 */
export function exchange(port: number, payload: string | Buffer, opts: { noBody?: boolean; timeoutMs?: number } = {}): Promise<RawResponse & { raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      const parsed = parseResponse(raw, opts.noBody);
      if (!parsed) return reject(new Error(`no response head (closed: ${closed}): ${JSON.stringify(raw.toString('latin1'))}`));
      resolve({ ...parsed, closed, raw });
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs ?? 10_000 * SLOWNESS);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => done(true));
  });
}

/**
 * `method path` on a fresh connection that closes after it: the raw response as latin1 text with
 * its Date line taken out (it may tick between two requests whose bytes a test compares).
 */
export async function wireWithoutDate(port: number, path: string, method: string): Promise<string> {
  const r = await exchange(port, `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, { noBody: method === 'HEAD' });
  return r.raw.toString('latin1').replace(/\r\nDate: [^\r]*/, '');
}

/** A connection kept open by the test: what arrived so far, and a hang-up. */
export interface Held {
  received(): Buffer;
  /** Resolves once the bytes received contain `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  hangUp(): void;
  closed(): boolean;
}

/** Sends `payload` (or its parts, in order) and keeps the connection open until hangUp(). */
export async function hold(port: number, payload: string | Buffer): Promise<Held> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.on('close', () => (isClosed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(payload);
  const received = () => Buffer.concat(chunks);
  return {
    received,
    waitFor: async (text, timeoutMs = 10_000) => {
      await waitFor(() => received().includes(text), `${JSON.stringify(text)} from the server (got ${JSON.stringify(received().toString('latin1').slice(0, 300))})`, timeoutMs);
    },
    hangUp: () => socket.destroy(),
    closed: () => isClosed,
  };
}
