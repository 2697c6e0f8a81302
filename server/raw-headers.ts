// Reads request headers from node's rawHeaders without building its `req.headers` object.
import type { IncomingMessage } from 'node:http';

/**
 * The request's Host, read from rawHeaders (clients send it first: one comparison). Nothing is
 * stored on the request: a property added to node's IncomingMessage after node built it gives
 * every request a second map and costs a keyed store per request, more than this scan.
 */
export function hostHeader(req: IncomingMessage): string | undefined {
  return firstHeader(req, 'host', 'Host');
}

/**
 * The first value of a request header, read from rawHeaders: `lower` is its name in lowercase and
 * `usual` as clients usually spell it ("Host"), which spares a toLowerCase() for each. The
 * same value as `req.headers[lower]` for the headers node keeps the first of (Host,
 * Content-Length), without building node's `req.headers` object, which bare node:http never
 * builds for an app that does not read it (a keyed load and store per header).
 */
export function firstHeader(req: IncomingMessage, lower: string, usual: string): string | undefined {
  const raw = req.rawHeaders;
  const length = lower.length;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === length && (name === usual || name === lower || name.toLowerCase() === lower)) return raw[i + 1];
  }
  return undefined;
}
