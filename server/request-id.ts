// Each request's id: the client's (or the proxy's) X-Request-Id when it is well-formed, else one
// made here, unique per process and cheap (a random per-process prefix and a counter). It is
// `req.id` (an own property, so it survives frameworks that swap the request's prototype, as
// Express does; middleware that assigns `req.id`, such as pino-http, changes what tspuma logs
// too), and the request log, the Rack env (`tspuma.request_id`), dumps and the 500 page read it.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { firstHeader } from './raw-headers.js';

/** What an incoming id may be: 1..128 characters that need no quoting in a log line or a header. */
const WELL_FORMED = /^[A-Za-z0-9._:@/+=~-]{1,128}$/;

const PREFIX = randomBytes(4).toString('hex');
let counter = 0;

/** An id made here: `3f9a1c2e-1`, `3f9a1c2e-2`, …; the prefix tells processes and restarts apart. */
export function newRequestId(): string {
  return `${PREFIX}-${(++counter).toString(36)}`;
}

type WithId = IncomingMessage & { id?: unknown };

/** Gives the request its id (from X-Request-Id, or a new one) as `req.id`; returns it. */
export function assignRequestId(req: IncomingMessage): string {
  const incoming = firstHeader(req, 'x-request-id', 'X-Request-Id');
  const id = incoming !== undefined && WELL_FORMED.test(incoming) ? incoming : newRequestId();
  (req as WithId).id = id;
  return id;
}

/** The request's id: `req.id` when it holds one (set at admission, or by the app), else assigned now. */
export function requestIdOf(req: IncomingMessage): string {
  const id = (req as WithId).id;
  return typeof id === 'string' && id !== '' ? id : typeof id === 'number' ? String(id) : assignRequestId(req);
}
