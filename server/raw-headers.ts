// Reads request headers from node's rawHeaders without building its `req.headers` object.
import type { IncomingMessage } from 'node:http';

/**
 * The Host header admission's one pass read (admission.ts's readFraming): a string, null when the
 * request had none, undefined when no pass read it.
 */
export const kHost = Symbol('tspuma.host');

/** The request's Host: what admission read, else (a request admission never saw) a scan of rawHeaders. */
export function hostHeader(req: IncomingMessage): string | undefined {
  const read = (req as { [kHost]?: string | null })[kHost];
  return read === undefined ? firstHeader(req, 'host', 'Host') : (read ?? undefined);
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
