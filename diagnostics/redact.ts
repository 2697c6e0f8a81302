// Redaction: values (dumps, frame values, logged URLs and errors) handed back with secrets, by
// name and by shape, replaced by "[redacted]"; and an error's text made one line (oneLine). It
// imports nothing, so the server can load it when debug mode is off.

export const REDACTED = '[redacted]';

/** Line breaks, C0/C1 control characters (ESC) and Unicode line separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text an error carries (its message may quote a client's input) as one line: every control
 * character escaped as JSON escapes it (`\n`, `\r`, `\u001b`), so it cannot start a line of its
 * own in tspuma's output (a forged dump headline, a `::add-mask::` workflow command) nor reach the
 * operator's terminal as an escape sequence. Values shown as locals are JSON already.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const json = JSON.stringify(ch).slice(1, -1);
    return json.length > 1 ? json : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

// `authentication`: some APIs' name for Authorization, holding the same token (review20.2).
export const SECRET_HEADERS = new Set(['authorization', 'authentication', 'proxy-authorization', 'cookie', 'set-cookie']);
/**
 * A webhook's signature header, an HMAC of the body whoever holds can replay that delivery with:
 * a header's name (with a `-`) having a segment `signature` or `hmac` (X-Hub-Signature-256,
 * Stripe-Signature, X-Shopify-Hmac-Sha256, X-Slack-Signature), unless its last describes it.
 */
const SIGNATURE_HEADER = /(?:^|-)(?:signature|hmac)(?:-|$)/;
/**
 * Secret words. A name is secret when one of its segments, or a run of adjacent segments
 * written together, is one of these words in full: `accessToken`, `api_key`, `apiKeys`,
 * `DB_PASSWORD` are secret; `tokens`, `max_tokens`, `tokenizer`, `secretary`, `pinned` are not.
 */
export const DEFAULT_SECRET_NAMES = [
  // password, passwd, passphrase, also run together with a prefix as environment names are: PGPASSWORD, MYSQLPASSWORD
  '[a-z0-9]*pass(?:word|wd|phrase)s?', 'pwd', 'passcodes?', 'secrets?', 'token', 'api[-_]?keys?', 'credentials?', 'private', 'auth', 'authorization', 'cookies?',
  // `tokens` alone is a count (a rate limiter's, an LLM's `max_tokens`, `prompt_tokens`); these kinds of token are not
  '(?:access|refresh|id|bearer|api|csrf|xsrf|oauth|jwt)tokens',
  // a key under a key's name (a bare `key` is a Map's or an object's key, and stays)
  // (license: New Relic's ingest key; functions: Azure Functions' x-functions-key; rapidapi: X-RapidAPI-Key, one segment once node lower-cases it)
  '(?:session|encryption|signing|sign|hmac|master|priv|secret|access|aes|cipher|enc|jwt|sentry|shared|client|crypto|subscription|license|functions|rapidapi)keys?', 'key(?:hex|base64|b64|bytes|pem|material)',
  'sessionids?', 'sid',
  // one-time codes: `otp`, `totp_code`, `mfaCode`, `2fa_code` (segments `2` + `fa`), `oneTimeCode`, `recoveryCodes`
  'otps?', '[th]otp', '(?:otp|[th]otp|mfa|2fa|tfa|twofa|twofactor|onetime|verification|backup|recovery)codes?',
  // a PIN, as a whole segment: `pin`, `CARD_PIN`, `pinCode`; not `pins`, `pinned`, `spinner` (other words), nor `pinCount`
  'pin',
  // a card's security code, beside the number the card rule redacts: `cvv`, `card_cvv2`, `cardCvc`, `securityCode`
  'cvv2?', 'cvc2?', 'securitycodes?',
].join('|');
/**
 * The last segment of a name that describes a secret rather than holding it: `authTagLength`,
 * `tokenCount`, `passwordType`, `tokenExpiresAt` are shown; so are where one is served or kept and
 * how long to wait for it (`authUrl`, `AUTH_ISSUER`, `AUTH0_DOMAIN`, `tokenEndpoint`, `secretsPath`,
 * `authTimeoutMs`): hidden, they erased which identity provider failed from every message that
 * named it. A URL holding a password or a secret query value is still redacted by its shape.
 */
const ABOUT_A_SECRET = new Set([
  'length', 'len', 'count', 'size', 'type', 'kind', 'mode', 'method', 'scheme', 'algorithm', 'alg', 'ttl', 'timeout', 'expires', 'expiry', 'at', 'version', 'field', 'header', 'required', 'enabled', 'strategy', 'min', 'max', 'name',
  'url', 'uri', 'endpoint', 'host', 'hostname', 'domain', 'issuer', 'realm', 'provider', 'path', 'file', 'port', 'ms', 'seconds',
]);

/**
 * Environment variables that a secret word's segment rule would take (`pwd`, `auth`, `password`)
 * but that shells and well-known tools set to a place, never a secret: the working directories,
 * ssh-agent's socket, pass's store. Matched as the whole name, in its case, so `pwd` (a local
 * holding a password), `MYSQL_PWD` and `DB_PWD` stay secret. A `redact` pattern still applies.
 */
export const NOT_SECRET_ENV_NAMES = new Set(['PWD', 'OLDPWD', 'SSH_AUTH_SOCK', 'PASSWORD_STORE_DIR']);

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
 * A quoted value cut short (a capped preview) runs to the end of the string. A bare value never
 * starts with `{` or `[`: an object or array under a secret-named key (`"credentials":{…}`) keeps
 * its brace, and its own keys are read in turn.
 */
const KEY_VALUE = /(?<![\w$])(["']?)((?:[A-Za-z_$]|(?<=["'])[0-9])[\w$.-]*)\1(\s*[:=]\s*)(?:(["'`])((?:\\.|(?!\4)[^\\\n])*)(\4|$)|([^\s,;&{}[\])"'`][^\s,;&}\])"'`]*))/g;
/** A key whose value is an object or an array (`"credentials":{`, `auth: [`): the group is found by secretGroups. */
const KEY_GROUP = /(?<![\w$])(["']?)([A-Za-z_$][\w$.-]*)\1(\s*[:=]\s*)([[{])/g;
/** `scheme://user:password@host`: the password (RFC 3986 has it percent-encoded, so no / ? #). */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'<>]*:)([^\s@/?#"'<>]+)@/gi;
/**
 * The head of an authority's userinfo with no scheme (`user:` of `user:password@host`, a Host
 * header's value or an entry of an X-Forwarded-Host list): at the text's start or after a comma.
 * A user name is read with no comma, a password may hold one (a sub-delim RFC 3986 allows there).
 */
const AUTHORITY_HEAD = /(?:^|,)\s*[^\s:@/?#"'<>,]*:/g;
/** What ends an authority's password (RFC 3986 has these percent-encoded in userinfo). */
const PASSWORD_END = /[\s@/?#"'<>]/g;
/** Headers whose value is an authority, not a URL: userinfo there has no `scheme://` before it. */
const AUTHORITY_HEADERS = new Set(['host', 'x-forwarded-host']);
/**
 * A part of a multipart/form-data body (a raw body an app read as text): its name, its head up to
 * the blank line, and its value up to the next boundary line (or the end of a text cut short).
 */
const MULTIPART_PART = /(content-disposition:[^\r\n]*?;\s*name="([^"\r\n]*)"[^\r\n]*(?:\r?\n[^\r\n]+)*\r?\n\r?\n)([\s\S]*?)(?=\r?\n--|$)/gi;
/** V8's `Unexpected token 'x', ..."PIECE"... is not valid JSON`: the piece of the text, `...` where V8 cut it. */
const JSON_SNIPPET = /(, )(\.\.\.)?"[\s\S]*?"(\.\.\.)? is not valid JSON/g;
/** The same, in a string cut short before the `@` (a capped preview ending in …). */
const USERINFO_CUT = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'<>]*:)[^\s@/?#"'<>]*…$/i;
/** `Bearer x`, `Basic x`, `Digest x` inside a longer string. */
const SCHEME = /\b(Bearer|Basic|Digest)(\s+)([A-Za-z0-9._~+/-]+=*)/g;
/** `name=Bearer x` (`Basic`, `Digest`, `Token`) in prose: the pair rule's value would stop at the space. */
const PAIR_CREDENTIAL = /((?:^|[?&;\s])([^=&?#;\s"'<>]+)=(?:Bearer|Basic|Digest|Token))(\s+)([A-Za-z0-9._~+/-]+=*)/gi;
/** A scheme's token in prose looks like a credential: a digit or `._~+/=-`, mixed case, or 16+ characters. */
function looksLikeCredential(token: string): boolean {
  return /[0-9._~+/=-]/.test(token) || (/[A-Z]/.test(token.slice(1)) && /[a-z]/.test(token)) || token.length >= 16;
}
/** A quoted string whose whole content is a credential (`"Bearer abc"` in JSON or a message). */
const QUOTED_CREDENTIAL = /(["'])((?:Bearer|Basic|Digest|Token)\s+[^"'\s]+)\1/gi;
const PEM = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
/**
 * Well-known key formats: Stripe secret keys, GitHub tokens, Slack tokens, AWS key ids, JWTs. A
 * string of 100+ characters in an object's preview is V8's `head…tail`: a key's head takes the
 * tail after it along, and a JWT cut before its signature's 5th character still counts.
 */
const KEY_SHAPE = /\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{6,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,}|eyJ[\w-]{5,}\.eyJ[\w-]{2,}(?:\.[\w-]*)?(?=…))(?:…[\w.-]*)?/g;
/** Cheap first look: a string with none of these cannot match any value rule. */
const MAYBE = /[=:@,]|-----BEGIN|Bearer|Basic|Digest|Token|sk_|rk_|gh[pousr]_|xox|AKIA|eyJ|\d{4}/;
/**
 * Query parameter names that carry a signature, a one-time code or a session, beyond the secret
 * words: presigned URLs (`X-Amz-Signature`, `X-Goog-Signature`, Azure's `sig`), OAuth's `code`,
 * `key` (Google APIs), `pwd`, `session`, `sid` and the session cookies' names.
 */
export const SECRET_QUERY_NAMES = new Set([
  'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature', 'x-goog-credential', 'signature', 'sig', 'code', 'key', 'pwd', 'pass',
  'session', 'sessionid', 'session_id', 'sid', 'jsessionid', 'phpsessid', 'otp', 'id_token', 'refresh_token', 'client_secret', 'sentry_key',
]);
/** The parameters of tspuma's `ssl://` bind URIs that name files (a key file's path is not the key). */
const TLS_FILE_PARAMS = new Set(['key', 'cert', 'ca']);
/** In a JSON or literal array of name/value pairs (node's rawHeaders): `"x-api-key","value"`. */
const FLAT_PAIR = /(["'])([A-Za-z][\w.-]*)\1(\s*,\s*)(["'])((?:\\.|(?!\4)[^\\\n])*)(\4|$)/g;
/** A run of 13 to 19 digits, with single spaces or dashes between groups: a payment card's shape. */
const CARD = /(?<![\d.-])(?:\d[ -]?){12,18}\d(?![\d-])/g;
/** Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro). */
const CARD_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6011|64[4-9]|65|35|62|50|5[6-8]|6[37])/;

/**
 * The `redactCardNumbers` option, for every Redactor of the process (log lines, dumps, the 500
 * page, OTel events follow one set of rules); set once options are resolved.
 */
let cardRedaction = true;
export function configureRedaction(opts: { cards: boolean }): void {
  cardRedaction = opts.cards;
}

/** A Luhn-valid number with a card network's prefix and length: what error trackers scrub by default. */
export function isCardNumber(text: string): boolean {
  const digits = text.replace(/[ -]/g, '');
  if (!/^\d{13,19}$/.test(digits) || !CARD_PREFIX.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Values redacted somewhere (by name, by shape, by position) are remembered for a while, so the
 * same value under another name (`pw=`, a property of another object, the error's message, a
 * log line, the 500 page) is redacted too: redaction follows the value. Values shorter than
 * MIN_REMEMBERED characters are not remembered (they would blank out common words and numbers).
 */
const MIN_REMEMBERED = 6;
const MAX_REMEMBERED = 256;
const remembered = new Map<string, true>();
/**
 * The remembered values, longest first, as scrubRemembered replaces them: a shorter secret that
 * is a prefix of a longer one (a test key and a live key, a key and its rotated successor) would
 * otherwise be replaced inside the longer one first and leave its rest in clear. Rebuilt when a
 * value is added or dropped, not when one is remembered again.
 */
let longestFirst: string[] | null = null;

/** Characters of a key or token (base64url, hex, `sk-live-…`): a remembered value inside a run of them is part of a longer secret. */
function isTokenChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 /* _ */ || c === 45 /* - */ || c === 126 /* ~ */ || c === 43 /* + */;
}

/**
 * `s` with each occurrence of `secret` replaced, together with the rest of the token it is part of:
 * a remembered test key `pro-abc` inside `pro-abc12345xyz` (its longer live key, not remembered yet
 * when a local holding it is read before the header) takes the whole key, not its start only. A dot
 * inside the token (`a.b`) belongs to it; a sentence's closing dot and base64's `=` padding are kept
 * as written and as part of the token respectively.
 */
function replaceWhole(s: string, secret: string): string {
  let out = '';
  let from = 0;
  for (let at = s.indexOf(secret); at !== -1; at = s.indexOf(secret, from)) {
    let start = at;
    while (start > from && (isTokenChar(s.charCodeAt(start - 1)) || (s.charCodeAt(start - 1) === 46 && start - 1 > from && isTokenChar(s.charCodeAt(start - 2))))) start--;
    let end = at + secret.length;
    while (end < s.length && (isTokenChar(s.charCodeAt(end)) || (s.charCodeAt(end) === 46 && end + 1 < s.length && isTokenChar(s.charCodeAt(end + 1))))) end++;
    while (end < s.length && s.charCodeAt(end) === 61 /* = */) end++;
    out += s.slice(from, start) + REDACTED;
    from = end;
  }
  return out + s.slice(from);
}

/**
 * An absolute file path (`/etc/tls/site.key`, a key file named by a secret-looking parameter):
 * never remembered, so the file stays named in every message that says what is wrong with it.
 */
const FILE_PATH = /^(?:\/[\w.-]+){2,}\/?$/;

/**
 * Whether `v` is the process's working directory or a folder above it: a place every path in a
 * message starts with, so never remembered as a secret (a secret-named variable may hold it,
 * `APP_SECRET_DIR=$PWD`): remembered, it would blank the file out of every ENOENT message, stack
 * and log line.
 */
function isPlaceOfTheProcess(v: string): boolean {
  if (!v.startsWith('/')) return false;
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return false; // the working directory was removed
  }
  return cwd === v || `${cwd}/`.startsWith(v.endsWith('/') ? v : `${v}/`);
}

/** Remembers a redacted value (its Bearer/Basic token too). */
export function rememberSecret(value: unknown): void {
  if (typeof value !== 'string') return;
  const v = value.trim();
  if (v.length < MIN_REMEMBERED || v.includes(REDACTED) || v.startsWith(REDACTED.slice(0, -1)) || v.length > 4096) return;
  // An authorization scheme alone (`Authorization: Bearer` with no token) is a word, not a secret:
  // remembered, it would blank "Bearer" out of every later dump and log line.
  if (/^(?:Bearer|Basic|Digest|Token)$/i.test(v)) return;
  if (isPlaceOfTheProcess(v) || FILE_PATH.test(v)) return;
  if (!remembered.delete(v)) longestFirst = null;
  remembered.set(v, true);
  if (remembered.size > MAX_REMEMBERED) {
    remembered.delete(remembered.keys().next().value!);
    longestFirst = null;
  }
  const token = /^(?:Bearer|Basic|Digest|Token)\s+(\S+)$/i.exec(v);
  if (token) {
    rememberSecret(token[1]);
    // Basic's user:password, which an app decodes and splits: the password alone too.
    if (/^Basic$/i.test(v.slice(0, 5))) rememberSecret(basicPassword(token[1]!));
  }
  // A Cookie (or Set-Cookie) header: each cookie's value, which an app cuts out of it (a session
  // lookup by hand), raw and decoded.
  if (COOKIE_LIST.test(v)) for (const value of cookieValues(v)) rememberSecret(value);
}

/** `name=value; name=value` (a Cookie header, or Set-Cookie's first pair and its attributes). */
const COOKIE_LIST = /^[!#$%&'*+.^\w|~-]+=[^;]*(?:;\s*[!#$%&'*+.^\w|~-]+(?:=[^;]*)?)*;?$/;

/**
 * The values of a cookie list worth remembering: those that look like identifiers or tokens (at
 * least 16 characters, or letters mixed with digits), raw and percent-decoded; a short word
 * (`theme=dark`, `lang=english`) would blank that word out of every later text.
 */
function cookieValues(list: string): string[] {
  const out: string[] = [];
  for (const pair of list.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const value = pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (!(value.length >= 16 || (/\d/.test(value) && /[a-z]/i.test(value)))) continue;
    out.push(value);
    try {
      const decoded = decodeURIComponent(value);
      if (decoded !== value) out.push(decoded);
    } catch {
      /* not percent-encoded */
    }
  }
  return out;
}

/** The password of a Basic credential's base64 `user:password`, or '' when it is not one. */
function basicPassword(b64: string): string {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon === -1 || /[\u0000-\u001f]/.test(text) ? '' : text.slice(colon + 1);
}

/** `text` with every remembered secret value replaced. */
export function scrubRemembered(text: string, applied?: string[], where?: string): string {
  if (remembered.size === 0 || text.length < MIN_REMEMBERED) return text;
  let s = text;
  longestFirst ??= [...remembered.keys()].sort((a, b) => b.length - a.length);
  for (const secret of longestFirst) {
    if (s.length >= secret.length && s.includes(secret)) {
      s = replaceWhole(s, secret);
      applied?.push(`value seen redacted elsewhere${where ? ` (${where})` : ''}`);
    }
    // V8 shows a string of 100+ characters in an object's preview cut short: its first 50, '…' and
    // its last 49, or its first 99 and '…'. The cut copy goes, tail and all.
    if (secret.length >= PREVIEW_CUT && s.includes('…')) {
      for (const cut of [`${secret.slice(0, PREVIEW_CUT / 2)}…`, `${secret.slice(0, PREVIEW_CUT - 1)}…`]) {
        if (!s.includes(cut)) continue;
        s = replaceWhole(s, cut);
        applied?.push(`value seen redacted elsewhere${where ? ` (${where})` : ''}`);
      }
    }
  }
  return s;
}
/** The length from which V8's previews cut a string (and the `…` takes the 100th place). */
const PREVIEW_CUT = 100;

/** Forgets every remembered value (tests). */
export function forgetSecrets(): void {
  remembered.clear();
  longestFirst = null;
}
/** Longest string the value rules read; the rest of a longer one is dropped, not shown. */
export const MAX_SCANNED = 64 * 1024;

/** A run of percent escapes, decoded as one UTF-8 sequence. */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * decodeURIComponent (with `+` as a space), or `s` as given where it would throw: a `%` without
 * two hex digits, escapes that are not UTF-8. Found without its throw: every log line's URL goes
 * through here, and a caught throw paused a -d process once a request whose URL had such an
 * escape (`?q=100%`: review13.8).
 */
function decoded(s: string): string {
  const spaced = s.replace(/\+/g, ' ');
  if (!spaced.includes('%')) return spaced;
  if (/%(?![0-9A-Fa-f]{2})/.test(spaced)) return s;
  let utf8 = true;
  const out = spaced.replace(ESCAPES, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    const text = bytes.toString('utf8');
    // Not UTF-8 (a stray byte, an overlong form, a surrogate): node put U+FFFD in its place.
    if (!Buffer.from(text, 'utf8').equals(bytes)) utf8 = false;
    return text;
  });
  return utf8 ? out : s;
}

/** Whether a query value (`raw`, and `text`, decoded) is a percent-encoded URL whose userinfo has a password. */
function encodedUrlPassword(raw: string, text: string): boolean {
  if (!/%40/i.test(raw)) return false;
  USERINFO.lastIndex = 0;
  const found = USERINFO.exec(text);
  USERINFO.lastIndex = 0;
  return found !== null && found[2] !== REDACTED;
}

/** A name's last segment in lower case (`authTagLength` → `length`), when it has two or more. */
function lastSegment(name: string): string | null {
  const segments = name.match(SEGMENT);
  return segments && segments.length > 1 ? segments[segments.length - 1]!.toLowerCase() : null;
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

  /** Card numbers are redacted (the `redactCardNumbers` option; the process's setting by default). */
  get cards(): boolean {
    return this.cardsOwn ?? cardRedaction;
  }
  private readonly cardsOwn: boolean | undefined;

  /** `extra`: more secret names (a regular expression source), matched by the same segment rule. */
  constructor(extra?: string | null, opts: { cards?: boolean } = {}) {
    this.cardsOwn = opts.cards;
    this.words = new RegExp(`^(?:${DEFAULT_SECRET_NAMES})$`);
    this.extra = extra ? new RegExp(`^(?:${extra})$`, 'i') : null;
  }

  /** The segment rule; your `redact` pattern is also tried against the whole name. */
  isSecretName(name: string): boolean {
    const seen = this.known.get(name);
    if (seen !== undefined) return seen;
    const runs = nameRuns(name);
    const last = lastSegment(name);
    // `pass` only ends a name (pgPass, REDIS_PASS, creds.pass): passThrough, passCount are not secrets.
    const byWords = !NOT_SECRET_ENV_NAMES.has(name) && ((runs.some((r) => this.words.test(r)) && (last === null || !ABOUT_A_SECRET.has(last))) || last === 'pass' || /^pass$/i.test(name));
    const secret = byWords || runs.some((r) => this.extra !== null && this.extra.test(r)) || (this.extra !== null && this.extra.test(name));
    if (this.known.size < 4096) this.known.set(name, secret);
    return secret;
  }

  /**
   * A name that is secret when its value is a string (N15): `session`, `sess`, `userSession`.
   * `session` alone is usually an object (express-session's req.session: shown, its secret
   * fields redacted by their own names); a string under it is a logged-in user's credential.
   */
  isSecretStringName(name: string): boolean {
    const last = lastSegment(name);
    return (last === null || !ABOUT_A_SECRET.has(last)) && nameRuns(name).some((r) => r === 'session' || r === 'sess');
  }

  /**
   * The key rule for a value that is a string wherever it stands (a header's, a query or form
   * parameter's, a quoted value's): a secret key, or a session name (`X-Session`, `session`).
   */
  isSecretStringKey(name: string): boolean {
    return this.isSecretKey(name) || this.isSecretStringName(name);
  }

  /**
   * In a flat name/value array (node's rawHeaders): a string that is a secret name, one token
   * (`X-Api-Key`), or a label, a token ending in `:` or `=` (`Password:`, `password=`), so the
   * element after it is its value; a longer text that mentions a secret word (a JSON body, a
   * sentence) names nothing. A session name counts with a `-` or `_` in it, as a header's has
   * (`X-Session`): a word list's bare `"session"` is followed by another word.
   */
  isSecretNameToken(s: string): boolean {
    return /^[\w!#$%&'*+.^`|~-]+\s*[:=]?$/.test(s) && (this.isSecretKey(s) || (/[-_]/.test(s) && this.isSecretStringName(s)));
  }

  /** A header name whose value is secret (in raw header arrays). */
  isSecretHeader(name: string): boolean {
    const lower = name.toLowerCase();
    if (SECRET_HEADERS.has(lower)) return true;
    const dash = lower.lastIndexOf('-');
    return dash !== -1 && SIGNATURE_HEADER.test(lower) && !ABOUT_A_SECRET.has(lower.slice(dash + 1));
  }

  /** The rule for headers and query parameters alike: a secret header's name or a secret name. */
  isSecretKey(name: string): boolean {
    return this.isSecretHeader(name) || this.isSecretName(name);
  }

  /** A query parameter's name whose value is secret: the name rules (its value is a string) plus SECRET_QUERY_NAMES. */
  isSecretQueryName(name: string): boolean {
    return SECRET_QUERY_NAMES.has(name.toLowerCase()) || this.isSecretStringKey(name);
  }

  /** A card number (Luhn-valid, a network's prefix), unless card redaction is off. */
  isCardNumber(value: string): boolean {
    return this.cards && isCardNumber(value);
  }

  /** Values that are credentials whatever they are called: "Bearer …", "Basic …", a known key format. */
  isSecretValue(value: string): boolean {
    if (/^(Bearer|Basic|Digest|Token)\s+\S/i.test(value)) return true;
    KEY_SHAPE.lastIndex = 0;
    const m = KEY_SHAPE.exec(value);
    return m !== null && m.index === 0 && m[0].length === value.length;
  }

  /** Request headers with secret headers (and secret-looking names, a session's among them) redacted. */
  headers(headers: Record<string, string | string[] | undefined>, applied: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (this.isSecretStringKey(name)) {
        for (const v of Array.isArray(value) ? value : [value]) rememberSecret(v);
        out[name] = REDACTED;
        applied.push(`header ${name.toLowerCase()}`);
      } else {
        const lower = name.toLowerCase();
        let text = Array.isArray(value) ? value.join(', ') : value;
        // Each entry of a list (X-Forwarded-Host as proxies append to it) is an authority: authorityShown reads them all.
        if (AUTHORITY_HEADERS.has(lower) && text.includes('@')) text = authorityShown(text, () => applied.push(`url password (header ${lower})`));
        out[name] = this.query(text, applied, `header ${lower}`); // a Referer quotes a URL
      }
    }
    return out;
  }

  /**
   * Replaces the object or array after each secret-named key (`"secrets":{…}`, `password: […]`)
   * with [redacted], brackets balanced and strings skipped; a group the text cuts short runs to its end.
   */
  private secretGroups(s: string, note: (what: string) => void): string {
    let out = '';
    let from = 0;
    KEY_GROUP.lastIndex = 0;
    for (let m = KEY_GROUP.exec(s); m !== null; m = KEY_GROUP.exec(s)) {
      const open = m.index + m[0].length - 1;
      if (s.startsWith(REDACTED, open) || !this.isSecretKey(m[2]!)) continue;
      let depth = 0;
      let end = s.length;
      for (let i = open; i < s.length; i++) {
        const c = s[i]!;
        if (c === '"' || c === "'") {
          for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
        } else if (c === '{' || c === '[') depth++;
        else if ((c === '}' || c === ']') && --depth === 0) {
          end = i + 1;
          break;
        }
      }
      note(`key ${m[2]}`);
      out += `${s.slice(from, open)}${REDACTED}`;
      from = end;
      KEY_GROUP.lastIndex = end;
    }
    return out + s.slice(from);
  }

  /**
   * `text` (a URL, a query string, a message, a body, a line of source) with every secret it
   * holds replaced, wherever it stands in the string:
   * - the value of each `name=value` parameter whose (decoded) name is secret by the header
   *   rules, or whose value looks like a credential: `?token=abc&page=2` -> `?token=[redacted]&page=2`;
   * - the value of each secret-named key in JSON, object literals and assignments (an object or
   *   array there whole: secretGroups);
   * - the password of URL userinfo: `postgres://app:[redacted]@db/x`;
   * - credentials after `Bearer`, `Basic`, `Digest`; well-known key formats; PEM private keys.
   * Each replacement is listed in `applied` as "KIND NAME (where)" when given. Strings longer
   * than MAX_SCANNED are cut there first. `source`: the text is a line of code, where an unquoted
   * value after a secret key that starts as an identifier is a variable, not a secret.
   */
  query(text: string, applied?: string[], where?: string, opts: { source?: boolean } = {}): string {
    if (!MAYBE.test(text)) return scrubRemembered(text, applied, where);
    let s = text.length > MAX_SCANNED ? `${text.slice(0, MAX_SCANNED)}…` : text;
    const note = (what: string) => applied?.push(`${what}${where ? ` (${where})` : ''}`);
    if (s.includes('-----BEGIN')) {
      s = s.replace(PEM, (_all, kind: string) => {
        note('private key');
        return `-----BEGIN ${kind}PRIVATE KEY-----${REDACTED}-----END ${kind}PRIVATE KEY-----`;
      });
    }
    // V8's JSON.parse error quotes the body around the bad token; cut, its names are cut too
    // (`..."assword": hunter2"...`), so no name rule can read it: the piece goes (review19.9).
    if (s.includes(' is not valid JSON')) {
      s = s.replace(JSON_SNIPPET, (all, head: string, left: string | undefined, right: string | undefined) => {
        if (left === undefined && right === undefined) return all;
        note('cut JSON text of a parse error');
        return `${head}${left ?? ''}"${REDACTED}"${right ?? ''} is not valid JSON`;
      });
    }
    if (s.includes('://')) {
      s = s.replace(USERINFO, (all, head: string, password: string) => {
        if (password === REDACTED) return all;
        rememberSecret(decoded(password)); // the same URL elsewhere without its scheme (`user:pw@host` in a regex match)
        if (password !== decoded(password)) rememberSecret(password);
        note('url password');
        return `${head}${REDACTED}@`;
      });
      if (s.endsWith('…')) s = s.replace(USERINFO_CUT, (_all, head: string) => (note('url password'), `${head}${REDACTED}…`));
    }
    if (s.includes('name="') && /content-disposition:/i.test(s)) {
      // A multipart body as text: a part named as a secret keeps its head, not its value (review20.11).
      s = s.replace(MULTIPART_PART, (all, head: string, name: string, value: string) => {
        if (value === REDACTED || value === '' || !this.isSecretQueryName(name)) return all;
        rememberSecret(value.replace(/…$/, ''));
        note(`multipart field ${name}`);
        return `${head}${REDACTED}`;
      });
    }
    if (s.includes('=')) {
      const queryLike = !/\s/.test(s); // a URL, a query string, a form body: not prose
      // In prose, a credential as a pair's value (`auth=Bearer x`): the token goes, the scheme stays.
      if (!queryLike) {
        s = s.replace(PAIR_CREDENTIAL, (all, head: string, name: string, space: string, token: string) => {
          if (!this.isSecretKey(decoded(name)) && !looksLikeCredential(token)) return all;
          rememberSecret(token);
          note(`credential after ${name}`);
          return `${head}${space}${REDACTED}`;
        });
      }
      s = s.replace(QUERY_PARAM, (all, before: string, name: string, value: string, offset: number, whole: string) => {
        // Redacted already (`code=[redacted])` in prose): its closing `])` is not a value's tail.
        if (value === '' || value.startsWith(REDACTED)) return all;
        // A credential's scheme whose token went above (`auth=Bearer [redacted]`).
        if (/^(?:Bearer|Basic|Digest|Token)$/i.test(value) && /^\s+\[redacted\]/.test(whole.slice(offset + all.length))) return all;
        // A TLS bind's `key=` (and `cert=`, `ca=`) name files, not secrets: `ssl://HOST:PORT?cert=FILE&key=FILE`.
        if (TLS_FILE_PARAMS.has(name.toLowerCase()) && /(?:^|[^a-z0-9+.-])ssl:\/\/\S*$/i.test(whole.slice(0, offset + before.length))) return all;
        // In a URL, a query string or a form body, SECRET_QUERY_NAMES too; in prose (`exit code=1`), the secret words only.
        const inQuery = /[?&;]/.test(before) || (before === '' && queryLike);
        // In prose, closing punctuation after the value is the sentence's: `(token=abc).` keeps its `).`
        const tail = queryLike ? '' : (/[)\]}.,!?]+$/.exec(value)?.[0] ?? '');
        const v = tail === '' ? value : value.slice(0, -tail.length);
        if (v === '') return all;
        // A percent-encoded URL with a password (`?url=https%3A%2F%2Fbot%3Apw%40host`): the URL rule
        // above reads `scheme://` as it stands, so it goes whole here (review19.7).
        const text = decoded(v);
        if (!(inQuery ? this.isSecretQueryName(decoded(name)) : this.isSecretStringKey(decoded(name))) && !this.isSecretValue(text) && !encodedUrlPassword(v, text)) return all;
        rememberSecret(text);
        note(`query ${name}`);
        return `${before}${name}=${REDACTED}${tail}`;
      });
    }
    // Credentials first: `Authorization: Bearer x` keeps its scheme, and the key rule below leaves it.
    s = s.replace(QUOTED_CREDENTIAL, (_all, q: string, value: string) => {
      rememberSecret(value);
      note('credential');
      return `${q}${value.split(/\s+/)[0]} ${REDACTED}${q}`;
    });
    s = s.replace(SCHEME, (all, scheme: string, space: string, token: string) => {
      // Inside prose ("Basic authentication") only what looks like a credential goes.
      if (!looksLikeCredential(token) && s.trim() !== all) return all;
      rememberSecret(token);
      note('credential');
      return `${scheme}${space}${REDACTED}`;
    });
    if (s.includes(':') || s.includes('=')) {
      s = s.replace(KEY_VALUE, (all, q: string, name: string, sep: string, open: string | undefined, quoted: string | undefined, close: string | undefined, bare: string | undefined, offset: number) => {
        const value = quoted ?? bare ?? '';
        if (value === '' || value === REDACTED || value.startsWith('//')) return all;
        // In a line of source, an unquoted value that starts as an identifier is a variable, a
        // member or a call (`'x-api-key': apiKey`, `token: getToken()`), not a secret: shown.
        if (opts.source && bare !== undefined && /^[A-Za-z_$]/.test(bare)) return all;
        // A stack frame's position: `(/app/src/secrets-app.ts:10:11)` names a file, not a key.
        if (bare !== undefined && /\.[A-Za-z]{1,5}$/.test(name) && /^\d+(?::\d+)?\)?$/.test(bare)) return all;
        // A session name holds a secret when its value is a string: quoted (`"session":"s-1"`), not a word of prose.
        if (!this.isSecretKey(name) && !(quoted !== undefined && this.isSecretStringName(name))) {
          // A quoted value may itself hold pairs: util.inspect prints a JSON body as `body: '{"password":"x"}'`.
          if (quoted === undefined || !/[:=]/.test(quoted)) return all;
          const inner = this.query(quoted, applied, where);
          return inner === quoted ? all : `${q}${name}${q}${sep}${open}${inner}${close}`;
        }
        if (bare !== undefined && /^(Bearer|Basic|Digest|Token)$/i.test(bare) && s.startsWith(` ${REDACTED}`, offset + all.length)) return all;
        rememberSecret(value);
        note(`key ${name}`);
        return open !== undefined ? `${q}${name}${q}${sep}${open}${REDACTED}${close}` : `${q}${name}${q}${sep}${REDACTED}`;
      });
    }
    // An object or array under a secret-named key, whole (as a captured value under that name is).
    if (!opts.source && (s.includes('{') || s.includes('['))) s = this.secretGroups(s, note);
    if (s.includes(',')) {
      s = s.replace(FLAT_PAIR, (all, q: string, name: string, sep: string, open: string, value: string, close: string) => {
        if (value === '' || value === REDACTED || !this.isSecretNameToken(name)) return all;
        rememberSecret(value);
        note(`element after ${name}`);
        return `${q}${name}${q}${sep}${open}${REDACTED}${close}`;
      });
    }
    s = s.replace(KEY_SHAPE, () => (note('key'), REDACTED));
    if (this.cards && /\d{4}/.test(s)) {
      s = s.replace(CARD, (m) => {
        if (!isCardNumber(m)) return m;
        note('card number');
        return REDACTED;
      });
    }
    return scrubRemembered(s, applied, where);
  }
}

/**
 * Remembers the values of a request's secret headers (X-Api-Key, Authorization and its token, each
 * cookie's value) and of the secret query values a Referer quotes, so that a message the app built
 * from them is redacted wherever it goes next: a failure's log line and the 500 page, which go out
 * before any dump reads the headers (and without -d, when none does).
 */
export function headerSecrets(extra: string | null): (headers: Record<string, string | string[] | undefined>) => void {
  const redactor = new Redactor(extra);
  return (headers) => void redactor.headers(headers, []);
}

/**
 * An authority (a Host header's value) with the password of its userinfo redacted and remembered:
 * `admin:[redacted]@127.0.0.1:9`. RFC 9112 refuses userinfo there, and the refusal quotes the
 * value, which the URL rule of `Redactor.query` (it needs `scheme://`) would pass whole.
 */
export function authorityShown(value: string, noted?: () => void): string {
  if (!value.includes('@')) return value;
  // One pass, whatever the value (admission quotes a hostile Host with it): the heads are found
  // once, and the end of a password run is looked for once for all the heads inside that run.
  let out = '';
  let copied = 0;
  let runEnd = -1;
  AUTHORITY_HEAD.lastIndex = 0;
  for (let head = AUTHORITY_HEAD.exec(value); head !== null; head = AUTHORITY_HEAD.exec(value)) {
    const start = head.index + head[0].length;
    if (start > runEnd) {
      PASSWORD_END.lastIndex = start;
      runEnd = PASSWORD_END.exec(value)?.index ?? value.length;
    }
    if (runEnd === start || value[runEnd] !== '@') continue;
    const password = value.slice(start, runEnd);
    if (password !== REDACTED) {
      rememberSecret(password);
      noted?.();
      out += value.slice(copied, start) + REDACTED;
      copied = runEnd;
    }
    AUTHORITY_HEAD.lastIndex = runEnd + 1; // a comma inside the password starts no entry
  }
  return copied === 0 ? value : out + value.slice(copied);
}

/** What a log line prints for a request URL: `Redactor.query` with the configured extra names. */
export function urlRedactor(extra: string | null): (url: string | undefined) => string {
  const redactor = new Redactor(extra);
  return (url) => (url === undefined ? '' : redactor.query(url));
}

const MAX_DEEP_DEPTH = 8;
const MAX_DEEP_NODES = 2000;

/**
 * A copy of `value` (an error's own fields, a config object, a log field) with the same rules as
 * a dump's values applied at every level: a secret-named key's value replaced whole (an axios
 * error's `config.headers.authorization`), the value after a secret name in a flat name/value
 * array (`rawHeaders`), and the value rules on every string. Depth and size are bounded; a cycle
 * is cut as `[Circular]`; byte arrays are shown by their length only.
 */
export function redactDeep(value: unknown, redactor: Redactor, applied?: string[], path = ''): unknown {
  const seen = new WeakSet<object>();
  let nodes = 0;
  const walk = (v: unknown, at: string, depth: number): unknown => {
    if (typeof v === 'string') return redactor.query(v, applied, at || undefined);
    if (v === null || typeof v !== 'object') return v;
    if (++nodes > MAX_DEEP_NODES || depth > MAX_DEEP_DEPTH) return '[…]';
    if (seen.has(v)) return '[Circular]';
    seen.add(v);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `[${v.constructor?.name ?? 'bytes'}(${v.byteLength})]`;
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof Map) v = Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), x]));
    else if (v instanceof Set) v = [...v];
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      let secretNext = false;
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (secretNext && x !== undefined && x !== null) {
          rememberSecret(x);
          applied?.push(`element ${i} (${at || 'value'})`);
          out.push(REDACTED);
        } else out.push(walk(x, `${at}[${i}]`, depth + 1));
        secretNext = typeof x === 'string' && redactor.isSecretNameToken(x);
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v as object)) {
      let x: unknown;
      try {
        x = (v as Record<string, unknown>)[key];
      } catch {
        continue; // a throwing getter
      }
      const where = at ? `${at}.${key}` : key;
      if ((redactor.isSecretKey(key) || (typeof x === 'string' && redactor.isSecretStringName(key))) && x !== undefined && x !== null && x !== '') {
        if (typeof x === 'string') rememberSecret(x);
        applied?.push(`field ${where}`);
        out[key] = REDACTED;
      } else out[key] = walk(x, where, depth + 1);
    }
    return out;
  };
  return walk(value, path, 0);
}
