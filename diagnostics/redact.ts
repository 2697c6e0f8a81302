// Redaction: values (dumps, frame values, logged URLs and errors) handed back with secrets, by
// name and by shape, replaced by "[redacted]". It imports nothing, so the server can load it
// when debug mode is off.

export const REDACTED = '[redacted]';
export const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/**
 * Secret words. A name is secret when one of its segments, or a run of adjacent segments
 * written together, is one of these words in full: `accessToken`, `api_key`, `DB_PASSWORD`
 * are secret; `tokens`, `tokenizer`, `secretary` are not.
 */
export const DEFAULT_SECRET_NAMES = 'password|passwords|passwd|passphrase|secrets?|token|api[-_]?key|credentials?|private|auth|authorization|cookies?';

/** Name segments: split at non-alphanumerics, lower→Upper, acronym→Word and letter↔digit. */
const SEGMENT = /[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g;
const MAX_SEGMENTS = 12;
const MAX_RUN = 4;

/**
 * One `name=value` parameter: after `?`, `&` or `;`, at the start of a string (a query
 * string, a form body), or after white space in a message. The value ends where the
 * parameter, the URL or the quoted string ends.
 */
const QUERY_PARAM = /(^|[?&;\s])([^=&?#;\s"'<>]+)=([^&#;\s"'<>]*)/g;
/**
 * `key: value` and `key = value` with a quoted or bare value: JSON (`"password":"x"`), object
 * literals and util.inspect output (`apiKey: 'x'`), assignments in source (`token = "x"`).
 * A quoted value cut short (a capped preview) runs to the end of the string.
 */
const KEY_VALUE = /(?<![\w$])(["']?)([A-Za-z_$][\w$.-]*)\1(\s*[:=]\s*)(?:(["'`])((?:\\.|(?!\4)[^\\\n])*)(\4|$)|([^\s,;&}[\])"'`][^\s,;&}\])"'`]*))/g;
/** `scheme://user:password@host`: the password (RFC 3986 has it percent-encoded, so no / ? #). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'<>]*:)([^\s@/?#"'<>]+)@/gi;
/** The same, in a string cut short before the `@` (a capped preview ending in …). */
const USERINFO_CUT = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'<>]*:)[^\s@/?#"'<>]*…$/i;
/** `Bearer x`, `Basic x`, `Digest x` inside a longer string. */
const SCHEME = /\b(Bearer|Basic|Digest)(\s+)([A-Za-z0-9._~+/-]+=*)/g;
/** A quoted string whose whole content is a credential (`"Bearer abc"` in JSON or a message). */
const QUOTED_CREDENTIAL = /(["'])((?:Bearer|Basic|Digest|Token)\s+[^"'\s]+)\1/gi;
const PEM = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
/** Well-known key formats: Stripe secret keys, GitHub tokens, Slack tokens, AWS key ids, JWTs. */
const KEY_SHAPE = /\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{6,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,})/g;
/** Cheap first look: a string with none of these cannot match any value rule. */
const MAYBE = /[=:@]|-----BEGIN|Bearer|Basic|Digest|Token|sk_|rk_|gh[pousr]_|xox|AKIA|eyJ/;
/** Longest string the value rules read; the rest of a longer one is dropped, not shown. */
export const MAX_SCANNED = 64 * 1024;

function decoded(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** The runs of adjacent segments of a name, each written together in lower case. */
export function nameRuns(name: string): string[] {
  const segments = (name.match(SEGMENT) ?? []).slice(0, MAX_SEGMENTS).map((s) => s.toLowerCase());
  const runs: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    let run = '';
    for (let j = i; j < Math.min(segments.length, i + MAX_RUN); j++) runs.push((run += segments[j]));
  }
  return runs;
}

export class Redactor {
  private readonly words: RegExp;
  private readonly extra: RegExp | null;
  private readonly known = new Map<string, boolean>();

  /** `extra`: more secret names (a regular expression source), matched by the same segment rule. */
  constructor(extra?: string | null) {
    this.words = new RegExp(`^(?:${DEFAULT_SECRET_NAMES})$`);
    this.extra = extra ? new RegExp(`^(?:${extra})$`, 'i') : null;
  }

  /** The segment rule; your `redact` pattern is also tried against the whole name. */
  isSecretName(name: string): boolean {
    const seen = this.known.get(name);
    if (seen !== undefined) return seen;
    const runs = nameRuns(name);
    const secret = runs.some((r) => this.words.test(r) || (this.extra !== null && this.extra.test(r))) || (this.extra !== null && this.extra.test(name));
    if (this.known.size < 4096) this.known.set(name, secret);
    return secret;
  }

  /** A header name whose value is secret (in raw header arrays). */
  isSecretHeader(name: string): boolean {
    return SECRET_HEADERS.has(name.toLowerCase());
  }

  /** The rule for headers and query parameters alike: a secret header's name or a secret name. */
  isSecretKey(name: string): boolean {
    return this.isSecretHeader(name) || this.isSecretName(name);
  }

  /** Values that are credentials whatever they are called: "Bearer …", "Basic …", a known key format. */
  isSecretValue(value: string): boolean {
    if (/^(Bearer|Basic|Digest|Token)\s+\S/i.test(value)) return true;
    KEY_SHAPE.lastIndex = 0;
    const m = KEY_SHAPE.exec(value);
    return m !== null && m.index === 0 && m[0].length === value.length;
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
   * `text` (a URL, a query string, a message, a body, a line of source) with every secret it
   * holds replaced, wherever it stands in the string:
   * - the value of each `name=value` parameter whose (decoded) name is secret by the header
   *   rules, or whose value looks like a credential: `?token=abc&page=2` -> `?token=[redacted]&page=2`;
   * - the value of each secret-named key in JSON, object literals and assignments;
   * - the password of URL userinfo: `postgres://app:[redacted]@db/x`;
   * - credentials after `Bearer`, `Basic`, `Digest`; well-known key formats; PEM private keys.
   * Each replacement is listed in `applied` as "KIND NAME (where)" when given. Strings longer
   * than MAX_SCANNED are cut there first.
   */
  query(text: string, applied?: string[], where?: string): string {
    if (!MAYBE.test(text)) return text;
    let s = text.length > MAX_SCANNED ? `${text.slice(0, MAX_SCANNED)}…` : text;
    const note = (what: string) => applied?.push(`${what}${where ? ` (${where})` : ''}`);
    if (s.includes('-----BEGIN')) {
      s = s.replace(PEM, (_all, kind: string) => {
        note('private key');
        return `-----BEGIN ${kind}PRIVATE KEY-----${REDACTED}-----END ${kind}PRIVATE KEY-----`;
      });
    }
    if (s.includes('://')) {
      s = s.replace(USERINFO, (all, head: string, password: string) => {
        if (password === REDACTED) return all;
        note('url password');
        return `${head}${REDACTED}@`;
      });
      if (s.endsWith('…')) s = s.replace(USERINFO_CUT, (_all, head: string) => (note('url password'), `${head}${REDACTED}…`));
    }
    if (s.includes('=')) {
      s = s.replace(QUERY_PARAM, (all, before: string, name: string, value: string) => {
        if (value === '' || value === REDACTED) return all;
        if (!this.isSecretKey(decoded(name)) && !this.isSecretValue(decoded(value))) return all;
        note(`query ${name}`);
        return `${before}${name}=${REDACTED}`;
      });
    }
    if (s.includes(':') || s.includes('=')) {
      s = s.replace(KEY_VALUE, (all, q: string, name: string, sep: string, open?: string, quoted?: string, close?: string, bare?: string) => {
        const value = quoted ?? bare ?? '';
        if (value === '' || value === REDACTED || value.startsWith('//') || !this.isSecretKey(name)) return all;
        note(`key ${name}`);
        return open !== undefined ? `${q}${name}${q}${sep}${open}${REDACTED}${close}` : `${q}${name}${q}${sep}${REDACTED}`;
      });
    }
    s = s.replace(QUOTED_CREDENTIAL, (_all, q: string, value: string) => {
      note('credential');
      return `${q}${value.split(/\s+/)[0]} ${REDACTED}${q}`;
    });
    s = s.replace(SCHEME, (all, scheme: string, space: string, token: string) => {
      // Inside prose ("Basic authentication") only what looks like a credential goes.
      const looks = /[0-9._~+/=-]/.test(token) || (/[A-Z]/.test(token.slice(1)) && /[a-z]/.test(token)) || token.length >= 16;
      if (!looks && s.trim() !== all) return all;
      note('credential');
      return `${scheme}${space}${REDACTED}`;
    });
    s = s.replace(KEY_SHAPE, () => (note('key'), REDACTED));
    return s;
  }
}

/** What a log line prints for a request URL: `Redactor.query` with the configured extra names. */
export function urlRedactor(extra: string | null): (url: string | undefined) => string {
  const redactor = new Redactor(extra);
  return (url) => (url === undefined ? '' : redactor.query(url));
}
