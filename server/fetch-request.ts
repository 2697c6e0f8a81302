// The Request a fetch app is called with: a standard Request (instanceof Request; method, url,
// headers, signal, body, text/json/arrayBuffer/blob/bytes/formData/clone) that reads node's
// request only for what the app touches. The method is set at once; the URL and headers are
// built on first read; text(), json(), arrayBuffer() read the body straight from the socket; undici's own
// Request is built only when something needs it (body as a stream, formData, clone, passing it
// to `new Request`). request.signal aborts when the client goes away before the response is
// complete, at any stage.
// node's global Buffer is an accessor (a LoadGlobalIC and a getter call, ~120 instructions a
// read in a request's path; bench/README.md session 19, fetch12): the module's binding is a plain load.
import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { absoluteUrl, originFormUrl, parseAuthority, parseTarget, type Authority } from './authority.js';
import { requestAuthority } from './rack.js';
import { hostHeader } from './raw-headers.js';
import { forwardedOf } from './trusted-proxy.js';
import { kDeliveredBody } from './shared-names.js';
import { kRequestState } from './node-http.js';

/** request.signal's reason when the server answered in the app's place. */
const TAKEN_OVER = "tspuma answered the request in the app's place (requestTimeout, a body over the limit, or a forced stop) before the app's response";

/** undici's Request, whatever the global is later replaced with (nativeRequest() takes it; undefined until then). */
export let NativeRequest: typeof Request | undefined;

/** Methods undici's Request refuses (Fetch's forbidden methods); node:http can still receive them. */
const FORBIDDEN = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The last URL requestUrl built from a Host header, with what it was built from: a keep-alive
 * client asks for the same target with the same Host request after request, and its URL is then
 * the last one, without the fragment check, the authority's and the path's look-ups.
 */
let lastTarget = '';
let lastHost: string | null = null;
let lastEncrypted = false;
let lastUrl = '';

/**
 * The URL of `req` for a fetch app: scheme and a validated authority, an origin-form path
 * (authority.ts). `url` is the request target as it arrived (req.url before anyone rewrote it).
 */
export function requestUrl(req: IncomingMessage, url: string = req.url ?? '/'): string {
  const forwarded = forwardedOf(req);
  if (forwarded !== undefined) return targetUrl(req, url, forwarded);
  const host = hostHeader(req); // read by admission's one pass
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  if (url === lastTarget && host === lastHost && encrypted === lastEncrypted) return lastUrl;
  return hostUrl(req, url, host, encrypted);
}

/** requestUrl for a target and Host other than the last ones (kept apart: the usual call stays small enough to inline). */
function hostUrl(req: IncomingMessage, url: string, host: string | undefined, encrypted: boolean): string {
  if (host && url.charCodeAt(0) === 47 /* / */ && !url.includes('#')) {
    // The common shape: origin-form, Host names the server.
    const authority = parseAuthority(host);
    if (authority !== null) {
      const built = originFormUrl(encrypted ? 'https' : 'http', authority, url);
      lastTarget = url;
      lastHost = host;
      lastEncrypted = encrypted;
      lastUrl = built;
      return built;
    }
  }
  return targetUrl(req, url, undefined);
}

function targetUrl(req: IncomingMessage, url: string, forwarded: ReturnType<typeof forwardedOf>): string {
  const target = parseTarget(url) ?? { authority: null, scheme: null, path: '/', query: '', hasQuery: false };
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const scheme = forwarded?.scheme ?? target.scheme ?? (encrypted ? 'https' : 'http');
  const authority: Authority = requestAuthority(req, target, forwarded?.host) ?? localAuthority(req);
  return absoluteUrl(scheme, authority, target);
}

/** A request with an empty Host (or none, on HTTP/1.0): the address it arrived on. */
function localAuthority(req: IncomingMessage): Authority {
  const address = req.socket?.localAddress ?? '127.0.0.1';
  return { hostname: address.includes(':') ? `[${address}]` : address, port: req.socket?.localPort ?? null };
}

/** Request headers as fetch's Headers, from rawHeaders (a value Headers refuses is left out). */
function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      /* llhttp accepted a header value fetch's Headers refuses: leave it out */
    }
  }
  return headers;
}

const bodyUnusable = () => new TypeError('Body is unusable: Body has already been read');

/** Reads the whole body from node's request; rejects if the client goes away first. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  if (req.readableEnded) return Promise.reject(bodyUnusable()); // read by someone else (bindings.incoming)
  if (req.destroyed) return Promise.reject(new DOMException('The client closed the connection before the request body was complete', 'AbortError'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => chunks.push(c);
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      // node's "aborted" (ECONNRESET): the client left mid-body, as a fetch body read reports it.
      reject(err.code === 'ECONNRESET' ? new DOMException('The client closed the connection before the request body was complete', 'AbortError') : err);
    };
    const onClose = () => {
      if (req.readableEnded) return onEnd();
      cleanup();
      reject(new DOMException('The client closed the connection before the request body was complete', 'AbortError'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const kNative = Symbol('tspuma.nativeRequest');

/**
 * What a fetch app gets as its `request`. A plain class whose prototype chain goes through
 * Request.prototype (fetch-globals.ts points it at the global Request class tspuma installs).
 */
export class IncomingRequest {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #method: string;
  /** The request target as it arrived; the absolute URL is made from it when first read. */
  readonly #target: string;
  #url: string | undefined;
  #headers: Headers | undefined;
  #controller: AbortController | undefined;
  #native: Request | undefined;
  /** The body was read by text()/json()/arrayBuffer()/... without undici. */
  #consumed = false;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#req = req;
    this.#res = res;
    this.#method = req.method ?? 'GET';
    // The URL is built on first read (an app that routes on nothing, or only on the method, never
    // pays for it), from the target as it arrived: admission validated its authority already.
    this.#target = req.url ?? '/';
  }

  get method(): string {
    return this.#method;
  }
  get url(): string {
    return (this.#url ??= requestUrl(this.#req, this.#target));
  }
  get headers(): Headers {
    return (this.#headers ??= headersOf(this.#req.rawHeaders));
  }
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController());
      const res = this.#res;
      const abort = () => {
        if (!res.writableFinished) controller.abort(new DOMException('The client closed the connection before the response was complete', 'AbortError'));
        // tspuma's own answer went out instead of the app's (its 503 at requestTimeout): the work the
        // app handed the signal to (an upstream fetch) stops too, rather than run on unanswered (review20.9).
        else if ((res as { [kRequestState]?: { takenOver?: boolean } })[kRequestState]?.takenOver === true) controller.abort(new DOMException(TAKEN_OVER, 'AbortError'));
      };
      if (res.closed) abort();
      else res.once('close', abort);
    }
    return this.#controller.signal;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.#nativeRequest().body;
  }
  get bodyUsed(): boolean {
    return this.#consumed || (this.#native?.bodyUsed ?? false);
  }

  /** undici's Request for this one, built once: its body streams from the socket. */
  #nativeRequest(): Request {
    if (this.#native) return this.#native;
    const method = this.#method;
    const forbidden = FORBIDDEN.has(method.toUpperCase());
    const hasBody = !forbidden && method !== 'GET' && method !== 'HEAD';
    const init: RequestInit & { duplex?: 'half' } = { method: forbidden ? 'GET' : method, headers: this.headers, signal: this.signal };
    if (hasBody) {
      init.body = this.#consumed ? new ReadableStream({ start: (c) => c.close() }) : (Readable.toWeb(this.#req) as ReadableStream<Uint8Array>);
      init.duplex = 'half';
    }
    const native = new (nativeRequest())(this.url, init);
    // undici cannot make a TRACE (or TRACK) Request: a GET that says its real method.
    if (forbidden) Object.defineProperty(native, 'method', { value: method, enumerable: true });
    if (this.#consumed) void native.arrayBuffer().catch(() => {}); // marks it used, as this one is
    return (this.#native = native);
  }

  /** The body as one Buffer, read straight from the socket (once). */
  #bytes(): Promise<Buffer> {
    if (this.bodyUsed) return Promise.reject(bodyUnusable());
    if (this.#native) return this.#native.arrayBuffer().then((b) => Buffer.from(b));
    this.#consumed = true;
    const m = this.#method;
    if (m === 'GET' || m === 'HEAD') return Promise.resolve(Buffer.alloc(0));
    const req = this.#req;
    // Kept on the request (no copy) for a dump: "position 72" of a JSON error points into it.
    return readBody(req).then((b) => ((req as unknown as Record<symbol, unknown>)[kDeliveredBody] = b));
  }

  text(): Promise<string> {
    return this.#bytes().then((b) => b.toString('utf8'));
  }
  json(): Promise<unknown> {
    return this.text().then((t) => JSON.parse(t) as unknown);
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }
  bytes(): Promise<Uint8Array> {
    return this.#bytes().then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  }
  blob(): Promise<Blob> {
    const type = this.headers.get('content-type') ?? '';
    return this.#bytes().then((b) => new Blob([b], type ? { type } : {}));
  }
  formData(): Promise<FormData> {
    if (this.#consumed) return Promise.reject(bodyUnusable());
    return this.#nativeRequest().formData();
  }
  clone(): Request {
    if (this.#consumed) throw bodyUnusable();
    return this.#nativeRequest().clone();
  }

  /** undici's Request (for `new Request(request)`, fetch-globals.ts). */
  static [kNative](r: IncomingRequest): Request {
    return r.#nativeRequest();
  }
}

for (const name of ['cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy']) {
  Object.defineProperty(IncomingRequest.prototype, name, {
    get(this: IncomingRequest) {
      return (IncomingRequest[kNative](this) as unknown as Record<string, unknown>)[name];
    },
    configurable: true,
  });
}
Object.defineProperty(IncomingRequest.prototype, Symbol.toStringTag, { value: 'Request', configurable: true });
Object.defineProperty(IncomingRequest.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: IncomingRequest, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Request ${inspect({ method: this.method, url: this.url, headers: this.headers, bodyUsed: this.bodyUsed }, { ...options, depth: depth - 1 })}`;
  },
});

/** undici's Request behind an IncomingRequest (other values as they are). */
export function nativeRequestOf<T>(value: T): T | Request {
  return value instanceof Object && IncomingRequest.prototype.isPrototypeOf(value) ? IncomingRequest[kNative](value as unknown as IncomingRequest) : value;
}

/** Points IncomingRequest's prototype chain at `base` (the global Request class's prototype). */
export function inheritRequest(base: object): void {
  Object.setPrototypeOf(IncomingRequest.prototype, base);
}

/**
 * undici's Request, taken from the global at the first call (installFetchGlobals, before it
 * replaces the global), when IncomingRequest's chain first goes through its prototype: not at
 * import, where the global's read would load undici for apps that never see a Request.
 */
export function nativeRequest(): typeof Request {
  if (NativeRequest === undefined) {
    NativeRequest = globalThis.Request;
    inheritRequest(NativeRequest.prototype);
  }
  return NativeRequest;
}
