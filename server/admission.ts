// The checks a request passes before it reaches the app: Puma's (method, URI length, Host,
// declared body size) and the HTTP/1.1 framing rules llhttp leaves to the server (a
// Transfer-Encoding must end in chunked, after registered codings only). Headers are read from rawHeaders in one pass: node
// builds its `req.headers` object only when something reads it.
import type http from 'node:http';
import { authorityProblem, parseAuthority, parseTarget } from './authority.js';
import { TspumaError } from './errors.js';
import { authorityShown } from '../diagnostics/redact.js';

/** Puma's MAX_REQUEST_URI_LENGTH. */
export const MAX_URI_LENGTH = 12 * 1024;

/** What one pass over a request's raw headers found. */
export interface Framing {
  host: string | undefined;
  /** How many Host header lines there were (RFC 9112 §3.2: more than one is refused). */
  hosts: number;
  /** The first Content-Length (llhttp refuses differing duplicates). */
  length: string | undefined;
  /** Every Transfer-Encoding header, joined with ", " as one list. */
  transferEncoding: string | undefined;
}

/**
 * One pass over rawHeaders for the headers admission needs, into a new object. (One object shared
 * by every call, as it was, is long-lived: each request's Host string stored into it went through
 * V8's write barrier for an old object pointing at a young one, a call of its RecordWrite builtin
 * per request; a new object is young, and its stores need none.)
 */
export function readFraming(req: http.IncomingMessage): Framing {
  let host: string | undefined;
  let hosts = 0;
  let length: string | undefined;
  let transferEncoding: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    switch (name.length) {
      case 4:
        if (name === 'Host' || name.toLowerCase() === 'host') {
          if (hosts++ === 0) host = raw[i + 1];
        }
        break;
      case 14:
        if (length === undefined && (name === 'Content-Length' || name.toLowerCase() === 'content-length')) length = raw[i + 1];
        break;
      case 17:
        if (name === 'Transfer-Encoding' || name.toLowerCase() === 'transfer-encoding') {
          transferEncoding = transferEncoding === undefined ? raw[i + 1] : `${transferEncoding}, ${raw[i + 1]}`;
        }
        break;
    }
  }
  return { host, hosts, length, transferEncoding };
}

/**
 * Why a Transfer-Encoding cannot frame a request body (RFC 9112 §6.1 and §6.3), or null when it
 * can: the codings must end in exactly one `chunked`, and HTTP/1.0 has no Transfer-Encoding.
 */
export function transferEncodingProblem(value: string, req: http.IncomingMessage): string | null {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return 'HTTP/1.0 requests cannot use Transfer-Encoding';
  const codings = value.split(',').map((c) => c.trim().toLowerCase());
  if (codings.at(-1) !== 'chunked') return 'the last coding must be chunked, or the body has no end the server can find';
  if (codings.indexOf('chunked') !== codings.length - 1) return 'chunked may be applied only once';
  return null;
}

/**
 * The registered transfer codings a body may carry under chunked (RFC 9112 §7; x-gzip and
 * x-compress are their old names, §7.2). Puma's list too; tspuma decodes only chunked and leaves
 * these, with the Transfer-Encoding header, to the app.
 */
const KNOWN_CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

/**
 * The first coding before the final chunked that is not a registered one (RFC 9112 §6.1: a server
 * SHOULD answer a transfer coding it does not understand with 501), or null. Empty list elements
 * are skipped (RFC 9110 §5.6.1). Call it once transferEncodingProblem found the framing sound.
 */
export function unknownTransferCoding(value: string): string | null {
  const codings = value.split(',');
  for (let i = 0; i < codings.length - 1; i++) {
    const coding = codings[i]!.trim().toLowerCase();
    if (coding !== '' && !KNOWN_CODINGS.has(coding)) return coding;
  }
  return null;
}

export interface AdmissionRules {
  readonly supportedHttpMethods: 'any' | ReadonlySet<string>;
  readonly httpContentLengthLimit: number | null;
}

export function supportedText(methods: AdmissionRules['supportedHttpMethods']): string {
  return methods === 'any' ? 'any' : [...methods].join(', ');
}

/** The last method set admissionError saw, and whether it has GET (most requests' method: no hash lookup for it). */
let lastMethods: ReadonlySet<string> | null = null;
let lastHasGet = false;

function methodAllowed(methods: ReadonlySet<string>, method: string): boolean {
  if (methods !== lastMethods) {
    lastMethods = methods;
    lastHasGet = methods.has('GET');
  }
  return method === 'GET' ? lastHasGet : methods.has(method);
}

/**
 * The last request target admitted. Its checks (length, fragment, form and authority) depend on
 * the target alone, and a keep-alive client asks for the same one request after request: an equal
 * target skips them (the fragment search alone was about 90 instructions a request, V8's
 * StringIndexOf).
 */
let admittedTarget: string | null = null;
/**
 * The rest of the last request admitted: its method, its one Host line and the rules it passed. A
 * request that repeats it (target, method, Host) with no body framing and an HTTP/1.x line passes
 * every check it passed, and is admitted without them: one comparison each (the Host check alone
 * went through parseAuthority's cache and hostProblem).
 */
let admittedMethod: string | undefined;
let admittedHost: string | undefined;
let admittedRules: AdmissionRules | null = null;

/** The first rule the request breaks, as the coded error (with its status), or null. */
export function admissionError(req: http.IncomingMessage, rules: AdmissionRules, f: Framing): TspumaError | null {
  const url = req.url ?? '';
  if (url === admittedTarget && f.hosts === 1 && f.host === admittedHost && req.method === admittedMethod && rules === admittedRules && f.transferEncoding === undefined && f.length === undefined && req.httpVersionMajor === 1) return null;
  const methods = rules.supportedHttpMethods;
  if (methods !== 'any' && !methodAllowed(methods, req.method!)) {
    return new TspumaError('TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED', { method: req.method, supported: supportedText(methods) });
  }
  const known = url === admittedTarget;
  if (!known && url.length > MAX_URI_LENGTH) return new TspumaError('TSPUMA_ERR_HTTP_URI_TOO_LONG', { length: url.length, limit: MAX_URI_LENGTH });
  // llhttp takes both; RFC 9112 has no HTTP/0.9 and a fragment never travels in a request target.
  if (req.httpVersionMajor !== 1) return new TspumaError('TSPUMA_ERR_HTTP_REQUEST_LINE', { problem: `HTTP/${req.httpVersionMajor}.${req.httpVersionMinor} is not HTTP/1.0 or HTTP/1.1 (an HTTP/0.9 request line has no version)` });
  if (!known && url.includes('#')) return new TspumaError('TSPUMA_ERR_HTTP_REQUEST_LINE', { problem: 'the request target carries a #fragment, which clients never send (RFC 9112 §3.2)' });
  if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && f.host === undefined) {
    return new TspumaError('TSPUMA_ERR_HTTP_HOST_MISSING');
  }
  const hostError = hostProblem(url, f, known);
  if (hostError) return hostError;
  if (f.transferEncoding !== undefined) {
    const problem = transferEncodingProblem(f.transferEncoding, req);
    if (problem) return new TspumaError('TSPUMA_ERR_HTTP_TRANSFER_ENCODING', { value: f.transferEncoding, problem });
    const coding = unknownTransferCoding(f.transferEncoding);
    if (coding !== null) return new TspumaError('TSPUMA_ERR_HTTP_TRANSFER_CODING', { value: f.transferEncoding, coding });
  }
  const limit = rules.httpContentLengthLimit;
  if (limit !== null && f.length !== undefined && Number(f.length) > limit) {
    return new TspumaError('TSPUMA_ERR_HTTP_BODY_TOO_LARGE', { length: Number(f.length), limit });
  }
  admittedTarget = url;
  admittedMethod = req.method;
  admittedHost = f.host;
  admittedRules = rules;
  return null;
}

/**
 * RFC 9112 §3.2: one Host line, whose value is empty or one valid authority (authority.ts, the
 * validator every URL an app gets is built with); a request target in origin-, absolute- or
 * asterisk-form, an absolute-form authority valid by the same rule (not looked at again for a
 * target admitted before: `targetKnown`).
 */
function hostProblem(url: string, f: Framing, targetKnown: boolean): TspumaError | null {
  if (f.hosts > 1) return new TspumaError('TSPUMA_ERR_HTTP_HOST_INVALID', { value: authorityShown(f.host ?? ''), problem: `${f.hosts} Host headers; a request has at most one` });
  if (f.host !== undefined && f.host !== '' && parseAuthority(f.host) === null) {
    // Quoted in the 400 page, the log and the dump: a userinfo password goes first (review19.1).
    return new TspumaError('TSPUMA_ERR_HTTP_HOST_INVALID', { value: authorityShown(f.host), problem: authorityProblem(f.host) });
  }
  if (!targetKnown && url.charCodeAt(0) !== 47 /* / */ && parseTarget(url) === null) {
    return new TspumaError('TSPUMA_ERR_HTTP_TARGET_INVALID', { target: url.slice(0, 200) });
  }
  return null;
}
