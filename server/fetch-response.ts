// The Response fetch apps build while tspuma serves them: a standard Response (instanceof
// Response, the same constructor checks, statics and getters) that keeps the body it was given
// (string, bytes, Blob, stream) so response.ts can write a string or bytes to the socket in one
// piece with its Content-Length, without undici building a ReadableStream per response. Anything
// that needs undici's own object (reading the body, clone of an unusual body, FormData) gets one,
// built once, and every later call goes to it. installed by fetch-globals.ts.
// node's global Buffer is an accessor (a LoadGlobalIC and a getter call, ~120 instructions a
// read in a request's path; bench/README.md session 19, fetch12): the module's binding is a plain load.
import { Buffer } from 'node:buffer';
import type { ServerResponse } from 'node:http';
import type { RackHeaders } from './app-types.js';

/** The DOM lib's init types, as undici's constructors take them (the project compiles without lib.dom). */
type HeadersInit = ConstructorParameters<typeof Headers>[0];
type BodyInit = ConstructorParameters<typeof Response>[0];
type ResponseType = Response['type'];

/**
 * undici's Response, whatever the global is later replaced with: taken by nativeResponse() when
 * tspuma first needs it (installFetchGlobals, before it replaces the global), not at import: the
 * global's first read loads undici, about 20 ms of a boot's CPU that a Rack app or a Node listener
 * never needs. undefined until then.
 */
export let NativeResponse: typeof Response | undefined;

/** undici's Response (taken from the global at the first call), and FetchResponse's chain through it. */
export function nativeResponse(): typeof Response {
  if (NativeResponse === undefined) {
    NativeResponse = globalThis.Response;
    Object.setPrototypeOf(FetchResponse, NativeResponse);
    Object.setPrototypeOf(FetchResponse.prototype, NativeResponse.prototype);
  }
  return NativeResponse;
}

/** A body the writer can send without undici: null, a string, bytes, a Blob or a stream. */
export type Source = string | Uint8Array | Blob | ReadableStream<Uint8Array> | null;

type Kept = string | Uint8Array | Blob;

/** Streams handed out by `response.body` for a kept body, with what they were made from. */
const streamSources = new WeakMap<ReadableStream, { source: Kept; pulled: boolean }>();

/**
 * A stream over a string, bytes or a Blob that remembers its source until read: a response
 * re-wrapped as `new Response(res.body, res)` (Hono middleware does) keeps a known length and,
 * for strings and bytes, the one-write path.
 */
function sourceStream(source: Kept): ReadableStream<Uint8Array> {
  const tag = { source, pulled: false };
  let blobReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        tag.pulled = true;
        if (source instanceof Blob) {
          blobReader ??= (source.stream() as ReadableStream<Uint8Array>).getReader();
          const step = await blobReader.read();
          if (step.done) controller.close();
          else controller.enqueue(step.value);
          return;
        }
        // A copy: the reader may keep or transfer the chunk; the source stays whole.
        controller.enqueue(typeof source === 'string' ? Buffer.from(source) : new Uint8Array(source));
        controller.close();
      },
      cancel(reason) {
        return blobReader?.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  streamSources.set(stream, tag);
  return stream;
}

/** What a stream sourceStream made was made from, while nobody has read or locked it. */
function unreadSource(stream: ReadableStream): Kept | undefined {
  const tag = streamSources.get(stream);
  return tag !== undefined && !tag.pulled && !stream.locked ? tag.source : undefined;
}

/** Lengths of streams handed out as `body` by a response whose length undici knew (FormData). */
const streamLengths = new WeakMap<ReadableStream, number>();

/** undici keeps a Response's state under a symbol described "state"; looked up once. */
let responseState: symbol | null | undefined;

/**
 * The string or bytes undici's Response was built from (`new Response('hi')` made before tspuma's
 * Response was installed, a Response from fetch()), read from undici's state so the body is written
 * in one piece without a trip through web streams, and the length undici knows (Blob, FormData).
 * Anything else (a used body, another fetch implementation) gives {} and goes through the stream.
 */
export function nativeBody(value: Response): { source?: string | Uint8Array; length?: number } {
  if (responseState === undefined) responseState = Object.getOwnPropertySymbols(value).find((s) => s.description === 'state') ?? null;
  if (responseState === null || value.bodyUsed) return {};
  const body = (value as unknown as Record<symbol, { body?: { source?: unknown; stream?: ReadableStream; length?: unknown } | null } | undefined>)[responseState]?.body;
  if (!body || body.stream?.locked) return {};
  const length = typeof body.length === 'number' ? body.length : undefined;
  return typeof body.source === 'string' || body.source instanceof Uint8Array ? { source: body.source, length } : { length };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TEXT_PLAIN = 'text/plain;charset=UTF-8';
const FORM_URLENCODED = 'application/x-www-form-urlencoded;charset=UTF-8';

type Init = ResponseInit | Response | undefined;

/** Everything the writer needs from a kept response (response.ts reads it through partsOf). */
export interface Parts {
  status: number;
  statusText: string;
  headers: RackHeaders;
  body: Source;
  /** Bytes of a Blob body (strings and bytes carry their own length; streams have none). */
  length: number | undefined;
}

/** A flat record of headers for the writer (set-cookie as a list), and whether Content-Type is among them. */
interface Copied {
  record: RackHeaders;
  hasType: boolean;
}

/** The headers of `init` as a flat record for the writer (set-cookie as a list), and whether Content-Type is among them. */
function headersRecord(init: HeadersInit | undefined): Copied {
  const record: RackHeaders = {};
  let hasType = false;
  if (init === undefined || init === null) return { record, hasType };
  if (init instanceof Headers) {
    // Names come lower-cased and sorted, a name's values joined, set-cookie's apart (getSetCookie).
    init.forEach((v, k) => {
      if (k === 'set-cookie') return;
      record[k] = v;
      if (k === 'content-type') hasType = true;
    });
    const cookies = init.getSetCookie();
    if (cookies.length > 0) record['set-cookie'] = cookies;
    return { record, hasType };
  }
  if (Array.isArray(init) || typeof (init as unknown as Iterable<unknown>)[Symbol.iterator] === 'function') {
    // Sequences of pairs, as Headers takes them: go through Headers for its joining rules.
    return headersRecord(new Headers(init));
  }
  for (const name in init as Record<string, string>) {
    // Lower-cased, and a name given twice in different case joined as Headers joins it.
    const key = name.toLowerCase();
    const value = String((init as Record<string, string>)[name]);
    const prev = record[key];
    record[key] = prev === undefined ? value : `${prev as string}, ${value}`;
    if (key === 'content-type') hasType = true;
  }
  return { record, hasType };
}

/** A Headers object with a record's headers (headersRecord's: a set-cookie list appended one by one). */
function headersOf(record: RackHeaders): Headers {
  const h = new Headers();
  for (const name in record) {
    const v = record[name];
    if (Array.isArray(v)) for (const one of v) h.append(name, one);
    else h.append(name, v as string);
  }
  return h;
}

/**
 * Writes a response whose one header is its body's Content-Type (none when `type` is null) and
 * whose body is a string, bytes or nothing (response.ts's writeTyped, passed in: this module does
 * not import the writer).
 */
export type TypedWriter = (res: ServerResponse, status: number, statusText: string, type: string | null, body: string | Uint8Array | null) => void;

/**
 * The Content-Type of headers given as a plain record whose one header it is (Hono's c.json() and
 * c.html() give `{ 'Content-Type': ... }`), else undefined: any other header, a value that is not
 * a string or holds a line break (Rack's multi-line form, which the general writer splits), Headers,
 * pairs or any other object.
 */
function onlyContentType(init: HeadersInit): string | undefined {
  if (Object.getPrototypeOf(init) !== Object.prototype) return undefined;
  let type: string | undefined;
  for (const name in init as Record<string, unknown>) {
    // The usual spellings compare without lowercasing (about 190 instructions a response).
    if (type !== undefined || name.length !== 12 || (name !== 'Content-Type' && name !== 'content-type' && name.toLowerCase() !== 'content-type')) return undefined;
    const value = (init as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value.includes('\n')) return undefined;
    type = value;
  }
  return type;
}

/** Reads a FetchResponse's kept parts (response.ts, through keptParts and partsOf). */
const kParts = Symbol('tspuma.responseParts');
/** Hands a FetchResponse without headers of its own to a TypedWriter (writeKeptTyped). */
const kTyped = Symbol('tspuma.responseTyped');
/** Reads the undici Response a FetchResponse materialized. */
const kNative = Symbol('tspuma.responseNative');

/**
 * The Response class fetch apps see while tspuma serves them (globalThis.Response). Its
 * prototype chain goes through undici's Response.prototype, so `instanceof` holds both ways
 * (static Symbol.hasInstance lets undici's own responses, from fetch(), count as one too).
 */
export class FetchResponse {
  #status!: number;
  #statusText!: string;
  /** HeadersInit as given (a plain record stays plain until someone reads `headers`). */
  #headersInit: HeadersInit | undefined;
  /**
   * Headers given as a Headers object (Hono's c.header(), Response.json), taken at once as the
   * writer's record (Fetch copies them: a later change to the object does not reach this response),
   * in place of a second Headers object made and read again at the write.
   */
  #record: Copied | undefined;
  #headers: Headers | undefined;
  /** The Content-Type the body implies (Fetch's "extract a body"), or null. */
  #bodyType!: string | null;
  #body!: Source;
  /** undici's Response, once something needed it; from then on the source of truth. */
  #native: Response | undefined;
  #stream: ReadableStream<Uint8Array> | undefined;
  /** The length of a stream body, when the response it came from knew it. */
  #length: number | undefined;

  static [Symbol.hasInstance](value: unknown): boolean {
    if (this === FetchResponse) return value instanceof nativeResponse();
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  constructor(body: BodyInit | null = null, init?: Init) {
    // The usual `new Response('text')` (Hono's c.text()): set here, in a constructor small enough
    // for TurboFan to inline where the app calls it (#setUp's bytecode is over its 460-byte limit).
    if (typeof body === 'string' && init === undefined) {
      this.#status = 200;
      this.#statusText = '';
      this.#bodyType = TEXT_PLAIN;
      this.#body = body;
      return;
    }
    this.#setUp(body, init);
    const copied = this.#record;
    if (copied !== undefined && this.#bodyType !== null) {
      // The body's type joins the copied headers unless they have one (as `headers` would show it).
      if (!copied.hasType) copied.record['content-type'] = this.#bodyType;
      copied.hasType = true;
      this.#bodyType = null;
    }
  }

  /** The constructor for any body and init: Fetch's checks, the body kept as given (or undici's Response). */
  #setUp(body: BodyInit | null, init: Init): void {
    const status = init === undefined ? 200 : (init.status ?? 200);
    if (status !== 200 && (!Number.isInteger(status) || status < 200 || status > 599)) throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive (got ${status}).`);
    const statusText = init?.statusText;
    if (statusText !== undefined && statusText !== '' && !REASON_PHRASE.test(String(statusText))) throw new TypeError('Invalid statusText');
    this.#status = status;
    this.#statusText = statusText === undefined ? '' : String(statusText);
    this.#bodyType = null;
    // A Response given as init: its headers are copied now (Fetch fills the new headers from them).
    const given = init?.headers;
    if (given instanceof Headers) this.#record = headersRecord(given);
    else this.#headersInit = given;
    if (body === null || body === undefined) {
      this.#body = null;
      return;
    }
    if (status !== 200 && NULL_BODY_STATUS.has(status)) throw new TypeError(`Response constructor: Invalid response status code ${status}`);
    if (typeof body === 'string') {
      this.#body = body;
      this.#bodyType = TEXT_PLAIN;
    } else if (body instanceof Uint8Array) {
      this.#body = body;
    } else if (body instanceof ArrayBuffer) {
      this.#body = new Uint8Array(body.slice(0));
    } else if (ArrayBuffer.isView(body)) {
      // Only the view's own bytes, also when it looks at a larger buffer.
      this.#body = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    } else if (body instanceof Blob) {
      this.#body = body;
      this.#bodyType = body.type === '' ? null : body.type;
    } else if (body instanceof URLSearchParams) {
      this.#body = body.toString();
      this.#bodyType = FORM_URLENCODED;
    } else if (body instanceof ReadableStream) {
      const source = unreadSource(body);
      if (source !== undefined) streamSources.get(body)!.pulled = true; // the new response owns it
      this.#body = source ?? (body as ReadableStream<Uint8Array>);
      if (source === undefined) this.#length = streamLengths.get(body);
    } else {
      // FormData and anything else undici knows how to extract: undici's Response, now.
      this.#body = null;
      this.#native = new (nativeResponse())(body, { status, statusText: this.#statusText, headers: given instanceof Headers ? given : this.#headersInit });
    }
  }

  /** undici's Response for this one, built on first need (reading the body, FormData, ...). */
  #materialize(): Response {
    if (this.#native) return this.#native;
    let body: BodyInit | null = this.#body;
    if (this.#stream) body = this.#stream;
    this.#native = new (nativeResponse())(body, { status: this.#status, statusText: this.#statusText, headers: this.headers });
    this.#headers = undefined;
    return this.#native;
  }

  get status(): number {
    return this.#native ? this.#native.status : this.#status;
  }
  get statusText(): string {
    return this.#native ? this.#native.statusText : this.#statusText;
  }
  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }
  get headers(): Headers {
    if (this.#native) return this.#native.headers;
    if (this.#headers === undefined) {
      const h = this.#record === undefined ? new Headers(this.#headersInit) : headersOf(this.#record.record);
      this.#record = undefined;
      if (this.#bodyType !== null && !h.has('content-type')) h.set('content-type', this.#bodyType);
      this.#headers = h;
      this.#headersInit = h;
      this.#bodyType = null;
    }
    return this.#headers;
  }
  get type(): ResponseType {
    return this.#native ? this.#native.type : 'default';
  }
  get url(): string {
    return this.#native ? this.#native.url : '';
  }
  get redirected(): boolean {
    return this.#native ? this.#native.redirected : false;
  }
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#native) {
      const stream = this.#native.body;
      if (stream !== null && !streamLengths.has(stream)) {
        const { length } = nativeBody(this.#native);
        if (length !== undefined) streamLengths.set(stream, length);
      }
      return stream;
    }
    const b = this.#body;
    if (b === null) return null;
    if (this.#stream === undefined) {
      this.#stream = b instanceof ReadableStream ? b : sourceStream(b);
    }
    return this.#stream;
  }
  get bodyUsed(): boolean {
    if (this.#native) return this.#native.bodyUsed;
    if (this.#stream === undefined) return false;
    const tag = streamSources.get(this.#stream);
    return tag !== undefined ? tag.pulled : this.#stream.locked;
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#materialize().arrayBuffer();
  }
  blob(): Promise<Blob> {
    return this.#materialize().blob();
  }
  bytes(): Promise<Uint8Array> {
    const native = this.#materialize() as Response & { bytes?: () => Promise<Uint8Array> };
    return native.bytes ? native.bytes() : native.arrayBuffer().then((b) => new Uint8Array(b));
  }
  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }
  json(): Promise<unknown> {
    return this.#materialize().json();
  }
  text(): Promise<string> {
    return this.#materialize().text();
  }
  clone(): Response {
    const b = this.#body;
    if (!this.#native && this.#stream === undefined && (b === null || typeof b === 'string' || b instanceof Uint8Array || b instanceof Blob)) {
      // An immutable (or copied) source: the clone keeps the fast path.
      return new FetchResponse(b, { status: this.#status, statusText: this.#statusText, headers: this.headers }) as unknown as Response;
    }
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
    return this.#materialize().clone();
  }

  /**
   * What the writer sends (response.ts): the kept body and headers, or null when undici's own
   * Response is the one to write (FetchResponse[kNative] gives it).
   */
  static [kParts](r: FetchResponse): Parts | null {
    if (r.#native) return null;
    let body = r.#body;
    let length = r.#length;
    if (r.#stream !== undefined) {
      // Someone asked for `body` (a stream): write what is left of it, unless it is still untouched.
      body = unreadSource(r.#stream) ?? r.#stream;
      if (body !== r.#body) length = undefined;
    }
    const init = r.#headers ?? r.#headersInit;
    const type = r.#bodyType;
    const copied = r.#record;
    let headers: RackHeaders;
    if (copied !== undefined) {
      headers = copied.record; // the writer only reads it
    } else if (init === undefined || init === null) {
      // No headers given (`new Response('hi')`, Hono's c.text()): the body's type alone.
      headers = type === null ? {} : { 'content-type': type };
    } else {
      const { record, hasType } = headersRecord(init);
      if (!hasType && type !== null) record['content-type'] = type;
      headers = record;
    }
    if (typeof body !== 'string' && body instanceof Blob) length = body.size;
    return { status: r.#status, statusText: r.#statusText, headers, body, length };
  }

  /**
   * The fetch app's usual response (`new Response('...')`, Hono's c.text(), c.json(), c.html()):
   * no headers given but a Content-Type record, a string, bytes or no body, nothing read from it.
   * Its status, type and body go to `write` as they are, without the Parts record and header record
   * of kParts; false for any other.
   */
  static [kTyped](r: FetchResponse, res: ServerResponse, write: TypedWriter): boolean {
    if (r.#native !== undefined || r.#stream !== undefined || r.#headers !== undefined || r.#record !== undefined) return false;
    const body = r.#body;
    if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) return false;
    let type = r.#bodyType;
    const init = r.#headersInit;
    if (init !== undefined && init !== null) {
      const given = onlyContentType(init);
      if (given === undefined) return false;
      type = given; // the app's Content-Type replaces the one its body implies
    }
    write(res, r.#status, r.#statusText, type, body);
    return true;
  }

  /** undici's Response behind `r`, once something needed one (else undefined). */
  static [kNative](r: FetchResponse): Response | undefined {
    return r.#native;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('Response.json: the data is not JSON serializable');
    const headers = new Headers(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new FetchResponse(text, { status: init?.status, statusText: init?.statusText, headers }) as unknown as Response;
  }

  static redirect(url: string | URL, status = 302): Response {
    if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Invalid status code ${status}`);
    const location = new URL(String(url)).href;
    return new FetchResponse(null, { status, headers: { location } }) as unknown as Response;
  }

  static error(): Response {
    return nativeResponse().error();
  }
}

Object.defineProperty(FetchResponse, 'name', { value: 'Response' });
Object.defineProperty(FetchResponse.prototype, Symbol.toStringTag, { value: 'Response', configurable: true });
Object.defineProperty(FetchResponse.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: FetchResponse, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Response ${inspect({ status: this.status, statusText: this.statusText, headers: this.headers, bodyUsed: this.bodyUsed }, { ...options, depth: depth - 1 })}`;
  },
});

/**
 * The kept parts of `value` when it is tspuma's own Response with nothing materialized (the usual
 * `new Response(...)` of a fetch app), else null: the writer's fast path, without `instanceof
 * Response` (a custom hasInstance and a walk up undici's prototype chain).
 */
export function keptParts(value: unknown): Parts | null {
  if (value === null || typeof value !== 'object' || !FetchResponse.prototype.isPrototypeOf(value)) return null;
  return FetchResponse[kParts](value as FetchResponse);
}

/**
 * Writes `value` with `write` when it is tspuma's own Response with no headers given but its
 * Content-Type and a string, bytes or no body (what fetch apps and Hono's c.text(), c.json() and
 * c.html() return most): true if it did, false for anything else (keptParts and the general writer
 * take it then).
 */
export function writeKeptTyped(value: unknown, res: ServerResponse, write: TypedWriter): boolean {
  if (value === null || typeof value !== 'object' || !FetchResponse.prototype.isPrototypeOf(value)) return false;
  return FetchResponse[kTyped](value as FetchResponse, res, write);
}

/** The writer's view of a response kept by FetchResponse; undici's Response when it is one. */
export function partsOf(r: Response): Parts | Response {
  if (!FetchResponse.prototype.isPrototypeOf(r)) return r;
  return FetchResponse[kParts](r as unknown as FetchResponse) ?? FetchResponse[kNative](r as unknown as FetchResponse)!;
}
