// Responses: normalises what a handler returned (Rack arrays, fetch Responses, plain objects) and
// writes it to node:http's ServerResponse, with backpressure.
// node's global Buffer is an accessor (a LoadGlobalIC and a getter call, ~120 instructions a
// read in a request's path; bench/README.md session 19, fetch12): the module's binding is a plain load.
import { Buffer } from 'node:buffer';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Body, RackHeaders } from './app-types.js';
import { TspumaError, showValue } from './errors.js';
import { keptParts, nativeBody, partsOf } from './fetch-response.js';
import { presetContentLength, presetContentType, presetHeaders, undoHead } from './node-http.js';

export interface Normalized {
  status: number;
  headers: RackHeaders;
  body: Body;
  /** Rack's body.close(), called once the body is written or abandoned. */
  close?: () => void;
  /** A fetch Response's status text ('' or absent: node's default reason phrase). */
  statusText?: string;
  /** The length of a body whose bytes are not at hand (a Blob, undici's FormData): its Content-Length. */
  length?: number;
}

const isResponse = (v: unknown): v is Response => typeof Response !== 'undefined' && v instanceof Response;

/** Describes a returned value for TSPUMA_ERR_APP_RESULT. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return `an object ${showValue(Object.keys(value as object))}`;
  return `${typeof value} ${showValue(value)}`;
}

/** Turns any accepted response form into {status, headers, body}, or throws TSPUMA_ERR_APP_RESULT. */
export function normalize(value: unknown, expected: string): Normalized {
  const kept = Array.isArray(value) ? null : keptParts(value);
  if (kept !== null) return kept;
  if (Array.isArray(value)) {
    const [status, headers, body] = value as unknown[];
    if (value.length === 3 && Number.isInteger(status) && headers !== null && typeof headers === 'object') {
      const close = (body as { close?: unknown } | null)?.close;
      const r: Normalized = { status: status as number, headers: headers as RackHeaders, body: body as Body };
      if (typeof close === 'function' && !(body instanceof Readable)) r.close = () => close.call(body);
      return r;
    }
  } else if (isResponse(value)) {
    const native = partsOf(value);
    if (!isResponse(native)) return native;
    const headers: RackHeaders = {};
    native.headers.forEach((v, k) => {
      if (k !== 'set-cookie') headers[k] = v;
    });
    const cookies = native.headers.getSetCookie();
    if (cookies.length > 0) headers['set-cookie'] = cookies;
    const { source, length } = nativeBody(native);
    const r: Normalized = { status: native.status, statusText: native.statusText, headers, body: source ?? (native.body as Body) };
    if (source === undefined && length !== undefined) r.length = length;
    return r;
  } else if (value !== null && typeof value === 'object' && Number.isInteger((value as { status?: unknown }).status)) {
    const v = value as { status: number; headers?: RackHeaders; body?: Body };
    return { status: v.status, headers: v.headers ?? {}, body: v.body };
  }
  throw new TspumaError('TSPUMA_ERR_APP_RESULT', { got: describe(value), expected });
}

function bodyless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** [name, value, name, value...]: what one res.writeHead() takes without a pass over an object's keys. */
type HeaderList = (string | string[])[];

/** Whether `extra` sets `name`, in any case. */
function overridden(extra: RackHeaders, name: string): boolean {
  const lower = name.toLowerCase();
  for (const key in extra) if (key.toLowerCase() === lower) return true;
  return false;
}

/** appendHeaders saw a Transfer-Encoding or Trailer header: the body's framing is the app's, not a preset length. */
let framingHeader = false;

/**
 * Appends Rack headers to `out` as a flat list (Rack's "a\nb" multi-value strings become arrays,
 * numbers strings, null and undefined are left out). A header `skip` sets is left out too.
 * Returns the index in `out` of the content-length value, or `lengthAt` if there is none here.
 */
function appendHeaders(out: HeaderList, source: RackHeaders, lengthAt: number, skip?: RackHeaders): number {
  for (const name in source) {
    const v = source[name];
    if (v === undefined || v === null) continue;
    if (skip !== undefined && overridden(skip, name)) continue;
    const at = out.length;
    if (lengthAt === -1 && name.length === 14 && name.toLowerCase() === 'content-length') lengthAt = at + 1;
    else if ((name.length === 17 && name.toLowerCase() === 'transfer-encoding') || (name.length === 7 && name.toLowerCase() === 'trailer')) framingHeader = true;
    out[at] = name;
    out[at + 1] = typeof v === 'string' ? (v.includes('\n') ? v.split('\n') : v) : typeof v === 'number' ? String(v) : (v as string[]);
  }
  return lengthAt;
}

const toBuffer = (c: string | Uint8Array): Uint8Array => (typeof c === 'string' ? Buffer.from(c) : c);

function waitDrain(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

type Chunks = Pick<AsyncIterator<string | Uint8Array>, 'next' | 'return'> | Iterator<string | Uint8Array>;

/**
 * A web ReadableStream read through its reader, not its async iterator: the iterator releases its
 * lock at the end, which rejects a promise inside undici on every response (and, with --debug,
 * pauses the capture layer on it). Stopping early cancels the stream.
 */
function readerOf(stream: ReadableStream<string | Uint8Array>): Chunks {
  const reader = stream.getReader();
  return {
    next: () => reader.read() as Promise<IteratorResult<string | Uint8Array>>,
    return: () => reader.cancel().then(() => ({ done: true as const, value: undefined }), () => ({ done: true as const, value: undefined })),
  };
}

/**
 * Streams chunks with backpressure. If the client leaves, the iterator is returned at once, even
 * while it waits for its next chunk (a ReadableStream's cancel() runs), so an event stream's
 * producer stops with the connection.
 */
async function writeChunks(res: ServerResponse, it: Chunks): Promise<void> {
  let finished = false;
  let returned = false;
  const stop = () => {
    if (finished || returned) return;
    returned = true;
    void Promise.resolve(it.return?.()).catch(() => {});
  };
  res.once('close', stop);
  try {
    for (;;) {
      const step = await it.next();
      if (step.done) {
        finished = true;
        break;
      }
      if (res.destroyed || res.writableEnded) break; // the client left, or the server ended an event stream
      if (!res.write(step.value) && !(await waitDrain(res))) break;
    }
  } finally {
    res.off('close', stop);
    if (!finished) stop();
  }
  if (!res.destroyed && !res.writableEnded) res.end();
}

/** Abandons a body that will not be sent (HEAD, 204, 304): streams are cancelled, iterators returned. */
function discard(body: Body): void {
  if (body === null || body === undefined || typeof body !== 'object') return;
  if (body instanceof Readable) body.destroy();
  else if (typeof (body as ReadableStream).cancel === 'function' && typeof (body as ReadableStream).getReader === 'function') {
    if (!(body as ReadableStream).locked) void (body as ReadableStream).cancel().catch(() => {});
  } else if (Symbol.asyncIterator in body) void (body as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.()?.catch(() => {});
}

/**
 * Writes a normalised response. Known-length bodies get Content-Length and go out in one
 * write; others go chunked (HTTP/1.1) with backpressure, their head sent at once, and the
 * returned promise settles when they are done. HEAD gets the head a GET would get (with the
 * Content-Length of a body whose length is known) and no body; 204 and 304 (and 1xx) get neither a
 * body nor Content-Length/Transfer-Encoding (RFC 9110 §6.4.1, §8.6; RFC 9112 §6.3).
 */
export function writeResponse(res: ServerResponse, r: Normalized, extraHeaders?: RackHeaders): void | Promise<void> {
  let pending: Promise<void> | undefined;
  try {
    pending = write(res, r, extraHeaders);
  } finally {
    if (pending === undefined) r.close?.();
  }
  if (pending !== undefined && r.close) return pending.finally(r.close);
  return pending;
}

/**
 * The last string body byteLength measured (up to LAST_STRING_MAX characters, so that no large
 * body is kept alive) and its UTF-8 length. An app answers with the same string (its literal:
 * Hono's c.text('...'), `new Response('...')`, a Rack hello) response after response, and a
 * compare with it (a pointer compare for that string) spares node's UTF-8 count, Buffer.byteLength:
 * about 100 instructions a response (bench/README.md, session 19, fetch12).
 */
let lastString = '';
let lastStringBytes = 0;
const LAST_STRING_MAX = 1024;

export function byteLength(chunk: string | Uint8Array): number {
  if (typeof chunk !== 'string') return chunk.byteLength;
  if (chunk === lastString) return lastStringBytes;
  const bytes = Buffer.byteLength(chunk);
  if (chunk.length <= LAST_STRING_MAX) {
    lastString = chunk;
    lastStringBytes = bytes;
  }
  return bytes;
}

/** Removes every `name` (lower-case) header from a flat list. */
function removeHeader(out: HeaderList, name: string): void {
  for (let i = out.length - 2; i >= 0; i -= 2) {
    const n = out[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) out.splice(i, 2);
  }
}

function head(res: ServerResponse, status: number, statusText: string | undefined, out: HeaderList): void {
  try {
    if (statusText) res.writeHead(status, statusText, out);
    else res.writeHead(status, out);
  } catch (error) {
    undoHead(res, false);
    throw error;
  }
}

const NO_HEADERS: HeaderList = [];

/**
 * head() for the general writer: its headers from node's record where they can be (node-http.ts's
 * presetHeaders: each name and value checked once, not at every head), else passed to writeHead.
 */
function headOf(res: ServerResponse, status: number, statusText: string | undefined, out: HeaderList): void {
  if (out.length === 0 || !presetHeaders(res, out)) {
    head(res, status, statusText, out);
    return;
  }
  try {
    head(res, status, statusText, NO_HEADERS);
  } catch (error) {
    undoHead(res, true);
    throw error;
  }
}

/**
 * Writes a response whose one header is its body's Content-Type (none for a null `type`) and whose
 * body is a string, bytes or nothing: a fetch app's `new Response('...')`, Hono's c.text()
 * (fetch-response.ts, writeKeptTyped). The head and body write() sends for the same response,
 * without the header record and the pass over it that write() makes.
 */
export function writeTyped(res: ServerResponse, status: number, statusText: string, type: string | null, body: string | Uint8Array | null): void {
  // The type from node's record where it can (node-http.ts: checked once, not at every head).
  const out: HeaderList = type === null || presetContentType(res, type) ? [] : ['content-type', type];
  if (bodyless(status)) {
    // 204, 304 (a Response refuses a body with them): neither a body nor a Content-Length.
    head(res, status, statusText, out);
    res.end();
    return;
  }
  const isHead = (res as ServerResponse & { req?: { method?: string } }).req?.method === 'HEAD';
  // A HEAD response's Content-Length is the GET's: unknown for a null body.
  if (!(isHead && body === null)) {
    const length = body === null ? 0 : byteLength(body);
    if (!presetContentLength(res, length)) out.push('content-length', String(length));
  }
  head(res, status, statusText, out);
  if (body === null || isHead) res.end();
  else res.end(body);
}

const isWebStream = (body: unknown): body is ReadableStream<string | Uint8Array> => typeof body === 'object' && body !== null && typeof (body as ReadableStream).getReader === 'function';

function write(res: ServerResponse, r: Normalized, extraHeaders?: RackHeaders): Promise<void> | undefined {
  const { status, body } = r;
  if (!Number.isInteger(status) || status < 200 || status > 999) {
    discard(body);
    throw new TspumaError('TSPUMA_ERR_APP_RESULT', { got: `status ${showValue(status)}`, expected: 'a final status: an integer from 200 to 999 (1xx responses are interim and cannot end a request)' });
  }
  const noBody = bodyless(status);
  const isHead = (res as ServerResponse & { req?: { method?: string } }).req?.method === 'HEAD';
  const out: HeaderList = [];
  framingHeader = false;
  // Headers the server adds (Connection: close on an error) replace the app's of the same name.
  let lengthAt = appendHeaders(out, r.headers, -1, extraHeaders);
  if (extraHeaders) lengthAt = appendHeaders(out, extraHeaders, lengthAt);
  if (noBody) {
    // RFC 9110 §8.6: no Content-Length in a 204; a 304 has no body to measure. Neither is chunked.
    removeHeader(out, 'content-length');
    removeHeader(out, 'transfer-encoding');
    discard(body);
    headOf(res, status, r.statusText, out);
    res.end();
    return undefined;
  }
  // The whole body when its length is known up front; undefined for a stream.
  let whole: string | Uint8Array | null | undefined;
  if (body === null || body === undefined) whole = null;
  else if (typeof body === 'string' || body instanceof Uint8Array) whole = body;
  else if (Array.isArray(body)) whole = body.length === 1 ? (body[0] as string | Uint8Array) : Buffer.concat((body as (string | Uint8Array)[]).map(toBuffer));
  if (whole !== undefined) {
    // A HEAD response's Content-Length, when sent, is the GET's: unknown for a null body.
    if (lengthAt === -1 && !(isHead && whole === null)) {
      const length = whole === null ? 0 : byteLength(whole);
      // Written by node from its own field where it can (node-http.ts), else as a header.
      if (framingHeader || !presetContentLength(res, length)) out.push('content-length', String(length));
    }
    headOf(res, status, r.statusText, out);
    if (whole === null || isHead) res.end();
    else res.end(whole);
    return undefined;
  }
  let stream: Body = body;
  let length = r.length;
  if (body instanceof Blob) {
    length = body.size;
    stream = body.stream() as ReadableStream<Uint8Array>;
  }
  if (lengthAt === -1 && length !== undefined) out.push('content-length', String(length));
  if (isHead) {
    discard(stream);
    headOf(res, status, r.statusText, out);
    res.end();
    return undefined;
  }
  if (stream instanceof Readable) {
    headOf(res, status, r.statusText, out);
    res.flushHeaders();
    return pipeline(stream, res);
  }
  if (isWebStream(stream)) {
    headOf(res, status, r.statusText, out);
    res.flushHeaders(); // an event stream's client sees the head before the first event
    return writeChunks(res, readerOf(stream));
  }
  if (typeof stream === 'object' && stream !== null && (Symbol.asyncIterator in stream || Symbol.iterator in stream)) {
    headOf(res, status, r.statusText, out);
    res.flushHeaders();
    const it = Symbol.asyncIterator in stream ? (stream as AsyncIterable<string | Uint8Array>)[Symbol.asyncIterator]() : (stream as Iterable<string | Uint8Array>)[Symbol.iterator]();
    return writeChunks(res, it);
  }
  throw new TspumaError('TSPUMA_ERR_APP_RESULT', {
    got: `a body that is ${describe(body)}`,
    expected: 'a body must be a string, bytes, an array of them, a Blob, a Node Readable, a ReadableStream or an (async) iterable',
  });
}
