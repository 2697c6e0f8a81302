// Created by adapters.ts and lowlevel.ts with whatever a handler returned; normalises Rack
// arrays, fetch Responses and plain objects, and hands the bytes to node:http's ServerResponse.
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
      return {
        status: status as number,
        headers: headers as RackHeaders,
        body: body as Body,
        ...(typeof close === 'function' && !(body instanceof Readable) ? { close: () => close.call(body) } : {}),
      };
    }
  } else if (isResponse(value)) {
    const headers: RackHeaders = {};
    value.headers.forEach((v, k) => {
      if (k !== 'set-cookie') headers[k] = v;
    });
    const cookies = value.headers.getSetCookie();
    if (cookies.length > 0) headers['set-cookie'] = cookies;
    return { status: value.status, headers, body: value.body as Body };
  } else if (value !== null && typeof value === 'object' && Number.isInteger((value as { status?: unknown }).status)) {
    const v = value as { status: number; headers?: RackHeaders; body?: Body };
    return { status: v.status, headers: v.headers ?? {}, body: v.body };
  }
  throw new TspumaError('TSPUMA_ERR_APP_RESULT', { got: describe(value), expected });
}

function bodyless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** Writes headers; Rack's "a\nb" multi-value strings become repeated headers. */
function writeHead(res: ServerResponse, status: number, headers: RackHeaders, extra?: RackHeaders): void {
  res.statusCode = status;
  for (const source of extra ? [headers, extra] : [headers]) {
    for (const name in source) {
      const v = source[name];
      if (v === undefined || v === null) continue;
      if (typeof v === 'string' && v.includes('\n')) res.setHeader(name, v.split('\n'));
      else res.setHeader(name, typeof v === 'number' ? String(v) : (v as string | string[]));
    }
  }
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

/** Streams an (async) iterable with backpressure; stops and returns the iterator if the client leaves. */
async function writeIterable(res: ServerResponse, body: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<void> {
  const it =
    Symbol.asyncIterator in body
      ? (body as AsyncIterable<string | Uint8Array>)[Symbol.asyncIterator]()
      : (body as Iterable<string | Uint8Array>)[Symbol.iterator]();
  let finished = false;
  try {
    for (;;) {
      const step = await it.next();
      if (step.done) {
        finished = true;
        break;
      }
      if (res.destroyed) break;
      if (!res.write(step.value) && !(await waitDrain(res))) break;
    }
  } finally {
    if (!finished) await it.return?.();
  }
  if (!res.destroyed) res.end();
}

/**
 * Writes a normalised response. Known-length bodies get Content-Length; others go chunked
 * (HTTP/1.1) with backpressure. node:http itself omits bodies for HEAD, 204 and 304.
 */
export async function writeResponse(res: ServerResponse, r: Normalized, extraHeaders?: RackHeaders): Promise<void> {
  try {
    writeHead(res, r.status, r.headers, extraHeaders);
    const body = r.body;
    const noBody = bodyless(r.status);
    if (body === null || body === undefined || noBody) {
      if (!noBody && !res.hasHeader('content-length')) res.setHeader('content-length', '0');
      if (noBody) res.removeHeader('content-length');
      res.end();
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array) {
      if (!res.hasHeader('content-length')) res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
      res.end(body);
      return;
    }
    if (Array.isArray(body)) {
      if (body.length === 1) {
        const only = body[0] as string | Uint8Array;
        if (!res.hasHeader('content-length')) res.setHeader('content-length', typeof only === 'string' ? Buffer.byteLength(only) : only.byteLength);
        res.end(only);
        return;
      }
      const chunks = (body as (string | Uint8Array)[]).map(toBuffer);
      const joined = Buffer.concat(chunks);
      if (!res.hasHeader('content-length')) res.setHeader('content-length', joined.byteLength);
      res.end(joined);
      return;
    }
    if (body instanceof Readable) {
      await pipeline(body, res);
      return;
    }
    if (typeof (body as ReadableStream).getReader === 'function') {
      await writeIterable(res, body as unknown as AsyncIterable<Uint8Array>);
      return;
    }
    if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) {
      await writeIterable(res, body as AsyncIterable<Uint8Array>);
      return;
    }
    throw new TspumaError('TSPUMA_ERR_APP_RESULT', {
      got: `a body that is ${describe(body)}`,
      expected: 'a body must be a string, bytes, an array of them, a Node Readable, a ReadableStream or an (async) iterable',
    });
  } finally {
    r.close?.();
  }
}
