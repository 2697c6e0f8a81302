// Created by dumps.ts for every dump, before it leaves the process (stderr, files, handler,
// 500 page), and by server.ts for the URLs its log lines print; hands back the same values
// with secrets replaced by "[redacted]". It imports nothing, so the server can load it when
// debug mode is off.

export const REDACTED = '[redacted]';
export const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Names of locals and properties whose values never leave the process. */
export const DEFAULT_SECRET_NAMES = 'password|passwd|secret|token|api[-_]?key|credential|private';

/**
 * One `name=value` query parameter: after `?` or `&` in a URL, at the start of a query string
 * (QUERY_STRING, a local holding one), or after white space in a message. The value ends where
 * the parameter, the URL or the quoted string ends.
 */
const QUERY_PARAM = /(^|[?&\s])([^=&?#\s"'<>]+)=([^&#\s"'<>]*)/g;

function decoded(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export class Redactor {
  readonly pattern: RegExp;

  constructor(extra?: string | null) {
    this.pattern = new RegExp(extra ? `${DEFAULT_SECRET_NAMES}|${extra}` : DEFAULT_SECRET_NAMES, 'i');
  }

  isSecretName(name: string): boolean {
    return this.pattern.test(name);
  }

  /** A header name whose value is secret (in raw header arrays). */
  isSecretHeader(name: string): boolean {
    return SECRET_HEADERS.has(name.toLowerCase());
  }

  /** The rule for headers and query parameters alike: a secret header's name or a secret name. */
  isSecretKey(name: string): boolean {
    return this.isSecretHeader(name) || this.isSecretName(name);
  }

  /** Values that are credentials whatever they are called: "Bearer …", "Basic …". */
  isSecretValue(value: string): boolean {
    return /^(Bearer|Basic|Digest|Token)\s+\S/i.test(value);
  }

  /** Request headers with secret headers (and secret-looking names) redacted. */
  headers(headers: Record<string, string | string[] | undefined>, applied: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (this.isSecretKey(name)) {
        out[name] = REDACTED;
        applied.push(`header ${name.toLowerCase()}`);
      } else out[name] = this.query(Array.isArray(value) ? value.join(', ') : value, applied, `header ${name.toLowerCase()}`); // a Referer quotes a URL
    }
    return out;
  }

  /**
   * `text` (a URL, a query string, a message) with the value of every query parameter whose
   * (decoded) name is secret by the header rules, or whose value looks like a credential,
   * replaced: `?token=abc&page=2` -> `?token=[redacted]&page=2`. Each replacement is listed in
   * `applied` as "query NAME (where)" when given.
   */
  query(text: string, applied?: string[], where?: string): string {
    if (!text.includes('=')) return text;
    return text.replace(QUERY_PARAM, (all, before: string, name: string, value: string) => {
      if (value === '' || value === REDACTED) return all;
      if (!this.isSecretKey(decoded(name)) && !this.isSecretValue(decoded(value))) return all;
      applied?.push(`query ${name}${where ? ` (${where})` : ''}`);
      return `${before}${name}=${REDACTED}`;
    });
  }
}

/** What a log line prints for a request URL: `Redactor.query` with the configured extra names. */
export function urlRedactor(extra: string | null): (url: string | undefined) => string {
  const redactor = new Redactor(extra);
  return (url) => (url === undefined ? '' : redactor.query(url));
}
