// Each request's id: the client's (or the proxy's) X-Request-Id when it is well-formed, else one
// made here, unique per process and cheap (a random per-process prefix and a counter). It is
// `req.id`, made when first read (an app that never reads it, with the request log off, pays
// nothing for it); it survives frameworks that swap the request's prototype, as Express does, and
// middleware that assigns `req.id`, such as pino-http, changes what tspuma logs too. The request
// log, the Rack env (`tspuma.request_id`), dumps and the 500 page read it; the request line shows
// an odd one quoted.
import type { IncomingMessage } from 'node:http';
import { randomHex } from './lazy-crypto.js';
import { defineRequestId } from './node-http.js';
import { firstHeader } from './raw-headers.js';

/** What an incoming id may be: 1..128 characters that need no quoting in a log line or a header. */
const WELL_FORMED = /^[A-Za-z0-9._:@/+=~-]{1,128}$/;

/** The random per-process prefix with its dash, made with the first id (node:crypto loads then, not at boot). */
let prefix = '';
let counter = 0;

/** The base-36 digits, each as a string of its own. */
const DIGITS = Array.from({ length: 36 }, (_, d) => d.toString(36));
/** The prefix and the counter's base-36 digits but its last, redone once every 36 ids (and at the first). */
let head = '';

/**
 * An id made here: `3f9a1c2e-1`, `3f9a1c2e-2`, …, `3f9a1c2e-z`, `3f9a1c2e-10`; the prefix tells
 * processes and restarts apart. The counter in base 36 is its digits but the last, which change
 * once every 36 ids, then the last digit: one string concatenation an id, where
 * `(++counter).toString(36)` and the prefix took about 335 instructions (callgrind, a million ids;
 * the Rack env makes one for every request).
 */
export function newRequestId(): string {
  const n = ++counter;
  const last = n % 36;
  if (last === 0) {
    const rest = n / 36;
    head = prefix + rest.toString(36);
  } else if (n === 1) {
    prefix = `${randomHex(4)}-`;
    head = prefix;
  }
  return head + DIGITS[last]!;
}

/**
 * The first X-Request-Id of the request whose id requestIdWith is reading, as its caller found it
 * in rawHeaders (undefined: none); null at any other time (makeRequestId reads rawHeaders itself).
 */
let given: string | undefined | null = null;

/** The request's id when first read: its well-formed X-Request-Id, else a new one. */
function makeRequestId(req: IncomingMessage): string {
  const incoming = given !== null ? given : firstHeader(req, 'x-request-id', 'X-Request-Id');
  return incoming !== undefined && WELL_FORMED.test(incoming) ? incoming : newRequestId();
}

// Once per process: `req.id` of tspuma's requests is made when something reads it.
defineRequestId(makeRequestId);

type WithId = IncomingMessage & { id?: unknown };

/** The request's id as a string: `req.id` (the client's, the app's, or made now). */
export function requestIdOf(req: IncomingMessage): string {
  const id = (req as WithId).id;
  if (typeof id === 'string' && id !== '') return id;
  if (typeof id === 'number') return String(id);
  const made = makeRequestId(req);
  (req as WithId).id = made;
  return made;
}

/** Characters a request line shows escaped: C0/C1 controls, DEL, line and paragraph separators, bidirectional controls. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** An id that reads as one field of a request line as it is. */
const PLAIN = /^[^\s"\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+$/;

/**
 * The id as a request line's message shows it: as is when it is one plain token (any id tspuma
 * takes or makes), else quoted with its odd characters escaped (`"abc def\n…"`), so an id an app
 * assigns from what a client sent keeps the line one line of space-separated fields.
 */
export function shownRequestId(id: string): string {
  if (PLAIN.test(id)) return id;
  return `"${id.replace(/["\\]/g, '\\$&').replace(UNSAFE, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

/**
 * requestIdOf(req) for a caller that has already read the request's first X-Request-Id from
 * rawHeaders (`incoming`, undefined for none; the Rack env's pass over the headers): the same id,
 * without a second pass to find it.
 */
export function requestIdWith(req: IncomingMessage, incoming: string | undefined): string {
  given = incoming;
  try {
    return requestIdOf(req);
  } finally {
    given = null;
  }
}
