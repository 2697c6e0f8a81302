// Authorities and request targets: the one validator every host a URL is built from goes through
// (the Host header, an absolute-form target's authority, a trusted X-Forwarded-Host or Forwarded
// host=), and the origin-form path and query of a request target, without its fragment. The Rack
// env (rack.ts) and the fetch Request's URL (fetch-request.ts) are built from what these return,
// so no header value can add a path, a query, userinfo or an out-of-range port to what an app sees.
import net from 'node:net';

/** A validated authority: `host [":" port]` of RFC 3986 §3.2.2-3.2.3 with no userinfo. */
export interface Authority {
  /** Lower-cased reg-name or IPv4 address, or an IPv6 literal in brackets. */
  readonly hostname: string;
  /** 0-65535; null when absent (or empty after the colon): the scheme's default. */
  readonly port: number | null;
}

/**
 * reg-name (unreserved and sub-delims) or IPv4. Percent-encoding is refused: a host name a proxy
 * or a certificate can match never needs it.
 */
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=]+$/;
const PORT = /^\d{0,5}$/;

const cache = new Map<string, Authority | null>();
const CACHE_MAX = 256;
let lastText = '';
let lastAuthority: Authority | null = null;

/** Parses `text` as an authority; null when it is not exactly one (why: authorityProblem). */
export function parseAuthority(text: string): Authority | null {
  if (text === lastText && lastAuthority !== null) return lastAuthority;
  let found = cache.get(text);
  if (found === undefined) {
    found = parse(text);
    if (cache.size < CACHE_MAX) cache.set(text, found);
  }
  if (found !== null) {
    lastText = text;
    lastAuthority = found;
  }
  return found;
}

function parse(text: string): Authority | null {
  let host: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return null;
    host = text.slice(0, close + 1);
    if (!net.isIPv6(text.slice(1, close))) return null;
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return null;
      portText = rest.slice(1);
    }
    host = host.toLowerCase();
  } else {
    const colon = text.indexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    if (colon !== -1) portText = text.slice(colon + 1);
    if (!REG_NAME.test(host)) return null;
    host = host.toLowerCase();
  }
  let port: number | null = null;
  if (portText !== null) {
    if (!PORT.test(portText)) return null;
    if (portText !== '') {
      port = Number(portText);
      if (port > 65535) return null;
    }
  }
  return { hostname: host, port };
}

/** Why `text` is not an authority, for TSPUMA_ERR_HTTP_HOST_INVALID. */
export function authorityProblem(text: string): string {
  if (/\s/.test(text)) return 'it contains white space';
  if (text.includes('@')) return 'userinfo (user@) is not allowed';
  if (/[/?#\\]/.test(text)) return 'a host cannot carry a path, query or fragment';
  const port = /:([^:\]]*)$/.exec(text)?.[1];
  if (port !== undefined && !text.startsWith('[') && text.indexOf(':') !== text.lastIndexOf(':')) return 'more than one colon outside an IPv6 literal';
  if (port !== undefined && !/^\d*$/.test(port)) return `port ${JSON.stringify(port)} is not a number`;
  if (port !== undefined && Number(port) > 65535) return `port ${port} is over 65535`;
  if (text.startsWith('[')) return 'not a valid IPv6 literal';
  return 'a host name may hold letters, digits and -._~!$&\'()*+,;= only';
}

/** The port an authority names, or the scheme's default. */
export function portOf(a: Authority, https: boolean): number {
  return a.port ?? (https ? 443 : 80);
}

/** A request target split into what an app's URL is built from. */
export interface Target {
  /** The authority an absolute-form target named (null: origin-form, the Host header names it). */
  readonly authority: Authority | null;
  /** The absolute-form target's scheme (null: the connection's). */
  readonly scheme: 'http' | 'https' | null;
  /** Path, starting with "/" (or "*" for asterisk-form). */
  readonly path: string;
  /** The query without "?" ('' when absent); never the fragment. */
  readonly query: string;
  /** Whether a query ("?") was present, even empty. */
  readonly hasQuery: boolean;
}

const ABSOLUTE = /^(https?):\/\/([^/?#]*)/i;

/**
 * Splits a request target (RFC 9112 §3.2): origin-form `/path?query`, absolute-form
 * `http://authority/path?query` (its authority validated like Host), or `*`. A fragment is cut
 * off. Null when the target is none of these, or its authority is not valid.
 */
export function parseTarget(url: string): Target | null {
  let rest = url;
  let authority: Authority | null = null;
  let scheme: 'http' | 'https' | null = null;
  if (url.charCodeAt(0) !== 47 /* / */) {
    if (url === '*') return { authority: null, scheme: null, path: '*', query: '', hasQuery: false };
    const m = ABSOLUTE.exec(url);
    if (m === null) return null;
    authority = parseAuthority(m[2]!);
    if (authority === null) return null;
    scheme = m[1]!.toLowerCase() as 'http' | 'https';
    rest = url.slice(m[0].length);
    if (rest === '' || rest[0] === '?' || rest[0] === '#') rest = `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  if (q === -1) return { authority, scheme, path: rest, query: '', hasQuery: false };
  return { authority, scheme, path: rest.slice(0, q), query: rest.slice(q + 1), hasQuery: true };
}

/** Origin-form targets that are already what the URL serializer would print: no parse needed. */
const CANONICAL_PATH = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/%?]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)|%2e/i;
const CANONICAL_HOST = /^[a-z0-9.-]+$/;

/**
 * The absolute URL an app is given: scheme, a validated authority and an origin-form path and
 * query (no fragment). Already-canonical parts are joined as they are; anything else (dot
 * segments, characters the URL serializer escapes, IPv6, a default port) goes through the URL
 * parser with the validated authority, so the result equals `new URL(...).href`.
 */
export function absoluteUrl(scheme: 'http' | 'https', authority: Authority, target: Target): string {
  const pathAndQuery = target.path === '*' ? '/' : target.hasQuery ? `${target.path}?${target.query}` : target.path;
  const defaultPort = authority.port === null || authority.port === (scheme === 'https' ? 443 : 80);
  const host = defaultPort ? authority.hostname : `${authority.hostname}:${authority.port}`;
  const joined = `${scheme}://${host}${pathAndQuery}`;
  if (CANONICAL_HOST.test(authority.hostname) && CANONICAL_PATH.test(pathAndQuery) && !DOT_SEGMENT.test(pathAndQuery)) return joined;
  return new URL(joined).href;
}
