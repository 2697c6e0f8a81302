// Responses: normalises what a handler returned (Rack arrays, fetch Responses, plain objects) and
// writes it to node:http's ServerResponse, with backpressure.
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Body, RackHeaders } from './app-types.js';
import { TspumaError, showValue } from './errors.js';

export interface Normalized {
  status: number;
  headers: RackHeaders;
  body: Body;
  /** Rack's body.close(), called once the body is written or abandoned. */
  close?: () => void;
}

const isResponse = (v: unknown): v is Response => typeof Response !== 'undefined' && v instanceof Response;

/** undici keeps a Response's state under a symbol described "state"; looked up once. */
let responseState: symbol | null | undefined;

/**
 * The string or bytes a Response was built from (`new Response('hi')`, `Response.json(x)`), read
 * from undici's state so the body is written in one piece without a trip through web streams
 * (several times faster). Anything else (a stream, a Blob, a used body, another fetch
 * implementation) gives undefined and goes through the stream.
 */
function sourceOf(value: Response): string | Uint8Array | undefined {
  if (responseState === undefined) responseState = Object.getOwnPropertySymbols(value).find((s) => s.description === 'state') ?? null;
  if (responseState === null || value.bodyUsed) return undefined;
  const body = (value as unknown as Record<symbol, { body?: { source?: unknown; stream?: ReadableStream } | null } | undefined>)[responseState]?.body;
  if (!body || body.stream?.locked) return undefined;
  return typeof body.source === 'string' || body.source instanceof Uint8Array ? body.source : undefined;
}

/** Describes a returned value for TSPUMA_ERR_APP_RESULT. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return `an object ${showValue(Object.keys(value as object))}`;
  return `${typeof value} ${showValue(value)}`;
}

/** Turns any accepted response form into {status, headers, body}, or throws TSPUMA_ERR_APP_RESULT. */
export function normalize(value: unknown, expected: string): Normalized {
  if (Array.isArray(value)) {
    const [status, headers, body] = value as unknown[];
    if (value.length === 3 && Number.isInteger(status) && headers !== null && typeof headers === 'object') {
      const close = (body as { close?: unknown } | null)?.close;
      const r: Normalized = { status: status as number, headers: headers as RackHeaders, body: body as Body };
      if (typeof close === 'function' && !(body instanceof Readable)) r.close = () => close.call(body);
      return r;
    }
  } else if (isResponse(value)) {
    const headers: RackHeaders = {};
    value.headers.forEach((v, k) => {
      if (k !== 'set-cookie') headers[k] = v;
    });
    const cookies = value.headers.getSetCookie();
    if (cookies.length > 0) headers['set-cookie'] = cookies;
    return { status: value.status, headers, body: sourceOf(value) ?? (value.body as Body) };
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

/** Streams chunks with backpressure; stops (and returns the iterator) if the client leaves. */
async function writeChunks(res: ServerResponse, it: Chunks): Promise<void> {
  let finished = false;
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
    if (!finished) await it.return?.();
  }
  if (!res.destroyed && !res.writableEnded) res.end();
}

/**
 * Writes a normalised response. Known-length bodies get Content-Length and go out in one
 * write; others go chunked (HTTP/1.1) with backpressure and the returned promise settles when
 * they are done. node:http itself omits bodies for HEAD, 204 and 304.
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

function byteLength(chunk: string | Uint8Array): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

function write(res: ServerResponse, r: Normalized, extraHeaders?: RackHeaders): Promise<void> | undefined {
  const { status, body } = r;
  const noBody = bodyless(status);
  const out: HeaderList = [];
  // Headers the server adds (Connection: close on an error) replace the app's of the same name.
  let lengthAt = appendHeaders(out, r.headers, -1, extraHeaders);
  if (extraHeaders) lengthAt = appendHeaders(out, extraHeaders, lengthAt);
  // The whole body when its length is known up front; undefined for a stream.
  let whole: string | Uint8Array | null | undefined;
  if (body === null || body === undefined || noBody) whole = null;
  else if (typeof body === 'string' || body instanceof Uint8Array) whole = body;
  else if (Array.isArray(body)) whole = body.length === 1 ? (body[0] as string | Uint8Array) : Buffer.concat((body as (string | Uint8Array)[]).map(toBuffer));
  if (whole !== undefined) {
    if (noBody) {
      if (lengthAt !== -1) out.splice(lengthAt - 1, 2);
    } else if (lengthAt === -1) {
      out.push('content-length', whole === null ? '0' : String(byteLength(whole)));
    }
    res.writeHead(status, out);
    if (whole === null) res.end();
    else res.end(whole);
    return undefined;
  }
  if (body instanceof Readable) {
    res.writeHead(status, out);
    return pipeline(body, res);
  }
  if (typeof body === 'object' && body !== null && typeof (body as ReadableStream).getReader === 'function') {
    res.writeHead(status, out);
    return writeChunks(res, readerOf(body as ReadableStream<string | Uint8Array>));
  }
  if (typeof body === 'object' && body !== null && (Symbol.asyncIterator in body || Symbol.iterator in body)) {
    res.writeHead(status, out);
    const it = Symbol.asyncIterator in body ? (body as AsyncIterable<string | Uint8Array>)[Symbol.asyncIterator]() : (body as Iterable<string | Uint8Array>)[Symbol.iterator]();
    return writeChunks(res, it);
  }
  throw new TspumaError('TSPUMA_ERR_APP_RESULT', {
    got: `a body that is ${describe(body)}`,
    expected: 'a body must be a string, bytes, an array of them, a Node Readable, a ReadableStream or an (async) iterable',
  });
}
