// Values V8's preview does not explain (read while paused, in the paused process itself): a Map's
// and a Set's entries with the types of their keys, a Buffer's or typed array's bytes as text (when
// they are UTF-8) or hex, a URL by its href, a Date by its ISO text. Each is read by one function
// run on the object (never its getters), then shown with the caps and redaction of every value.
import { nameRuns, REDACTED, type Redactor } from './redact.js';

/** Entries of a Map or Set shown (then `…`). */
export const MAX_ENTRIES = 12;
/** Characters of a byte array's text preview. */
export const MAX_BYTES_TEXT = 160;
/** Bytes of a byte array's hex preview. */
export const MAX_BYTES_HEX = 32;

/** A key or value as the function below describes it. */
interface Brief {
  t: string;
  s: string;
}

type Special =
  | { kind: 'map'; size: number; entries: [Brief, Brief][] }
  | { kind: 'set'; size: number; entries: [Brief][] }
  | { kind: 'date'; text: string }
  | { kind: 'url'; text: string }
  | { kind: 'params'; text: string }
  | { kind: 'bytes'; name: string; length: number; text: string | null; hex: string };

/** Objects worth asking: V8's preview of them says too little. */
export function isSpecial(v: { type: string; subtype?: string; className?: string }): boolean {
  if (v.type !== 'object') return false;
  return ['map', 'set', 'date', 'typedarray', 'arraybuffer', 'dataview'].includes(v.subtype ?? '') || v.className === 'URL' || v.className === 'URLSearchParams';
}

/**
 * Runs on the object (as `this`) in the paused process. Reads nothing but the object's own
 * state through the built-in prototypes, so no getter or proxy trap of the app runs.
 */
const READ = `function (maxEntries, maxText, maxHex) {
  const brief = (v) => {
    switch (typeof v) {
      case 'string': return { t: 'string', s: v.length > 200 ? v.slice(0, 200) : v };
      case 'bigint': return { t: 'bigint', s: String(v) + 'n' };
      case 'function': return { t: 'function', s: 'function ' + (v.name || '(anonymous)') };
      case 'object': {
        if (v === null) return { t: 'null', s: 'null' };
        if (Array.isArray(v)) return { t: 'object', s: 'Array(' + v.length + ')' };
        if (v instanceof Date) return { t: 'object', s: isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString() };
        if (typeof URL === 'function' && v instanceof URL) return { t: 'url', s: v.href };
        let name = 'Object';
        try { const p = Object.getPrototypeOf(v); name = (p && p.constructor && p.constructor.name) || 'Object'; } catch {}
        if (v instanceof Map || v instanceof Set) return { t: 'object', s: name + '(' + v.size + ')' };
        return { t: 'object', s: name };
      }
      default: return { t: typeof v, s: String(v) };
    }
  };
  try {
    if (this instanceof Map) {
      const entries = [];
      for (const [k, v] of Map.prototype.entries.call(this)) { if (entries.length >= maxEntries) break; entries.push([brief(k), brief(v)]); }
      return { kind: 'map', size: this.size, entries };
    }
    if (this instanceof Set) {
      const entries = [];
      for (const k of Set.prototype.values.call(this)) { if (entries.length >= maxEntries) break; entries.push([brief(k)]); }
      return { kind: 'set', size: this.size, entries };
    }
    if (this instanceof Date) return { kind: 'date', text: isNaN(this.getTime()) ? 'Invalid Date' : Date.prototype.toISOString.call(this) };
    if (typeof URL === 'function' && this instanceof URL) return { kind: 'url', text: this.href };
    if (typeof URLSearchParams === 'function' && this instanceof URLSearchParams) return { kind: 'params', text: this.toString() };
    let u8 = null;
    if (this instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && this instanceof SharedArrayBuffer)) u8 = new Uint8Array(this);
    else if (this instanceof Uint8Array || this instanceof Int8Array || this instanceof Uint8ClampedArray || this instanceof DataView) u8 = new Uint8Array(this.buffer, this.byteOffset, this.byteLength);
    if (u8 === null) return null;
    let name = 'Uint8Array';
    try { name = Object.getPrototypeOf(this).constructor.name; } catch {}
    const head = u8.subarray(0, Math.min(u8.length, maxText * 4));
    let text = null;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: u8.length > head.length });
      if (/[\\u0000-\\u0008\\u000e-\\u001f\\u007f]/.test(text)) text = null;
    } catch { text = null; }
    let hex = '';
    for (let i = 0; i < Math.min(u8.length, maxHex); i++) hex += (i ? ' ' : '') + u8[i].toString(16).padStart(2, '0');
    return { kind: 'bytes', name, length: u8.length, text: text === null ? null : text.slice(0, maxText + 1), hex };
  } catch { return null; }
}`;

/** The function run on the object, with the caps in it. */
export const READ_SPECIAL = `function () { return (${READ}).call(this, ${MAX_ENTRIES}, ${MAX_BYTES_TEXT}, ${MAX_BYTES_HEX}); }`;

/** Names whose bytes are a secret even when the name is not one for other values: `signingKey`, `hmacKey`, `seed`. */
const BINARY_SECRET = /^(key|keys|seed|hmac|sig|signature|mac|pem|der|pkcs\d*)$/;

/** A byte array (Buffer, typed array, ArrayBuffer) under this name is never shown. */
export function isSecretBinaryName(name: string): boolean {
  return nameRuns(name).some((r) => BINARY_SECRET.test(r));
}

export function isBinary(v: { type: string; subtype?: string }): boolean {
  return v.type === 'object' && (v.subtype === 'typedarray' || v.subtype === 'arraybuffer' || v.subtype === 'dataview');
}

/** What READ_SPECIAL's result is shown as: redacted by the value rules (and by a Map's key name). */
export function showSpecial(r: unknown, redactor: Redactor, redactions: string[], where: string): string | null {
  if (r === null || typeof r !== 'object' || !('kind' in r)) return null;
  const x = r as Special;
  const text = (s: string, what: string) => {
    if (redactor.isSecretValue(s) || redactor.isCardNumber(s)) {
      redactions.push(`value of ${what}`);
      return REDACTED;
    }
    return redactor.query(s, redactions, what);
  };
  const brief = (b: Brief, what: string) => {
    if (b.t === 'string') {
      const s = text(b.s, what);
      return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
    }
    return b.t === 'url' ? `URL ${text(b.s, what)}` : b.s;
  };
  switch (x.kind) {
    case 'map': {
      const items = x.entries.map(([k, v]) => {
        const key = brief(k, `key of ${where}`);
        if (k.t === 'string' && redactor.isSecretName(k.s)) {
          redactions.push(`entry ${k.s} (${where})`);
          return `${key} => "${REDACTED}"`;
        }
        return `${key} => ${brief(v, `entry ${k.s.slice(0, 40)}, ${where}`)}`;
      });
      return `Map(${x.size}) {${items.join(', ')}${x.size > items.length ? ', …' : ''}}`;
    }
    case 'set': {
      const items = x.entries.map(([k]) => brief(k, `element of ${where}`));
      return `Set(${x.size}) {${items.join(', ')}${x.size > items.length ? ', …' : ''}}`;
    }
    case 'date':
      return x.text === 'Invalid Date' ? x.text : `Date ${x.text}`;
    case 'url':
      return `URL ${text(x.text, where)}`;
    case 'params':
      return `URLSearchParams ${text(x.text, where)}`;
    case 'bytes': {
      const head = `${x.name}(${x.length})`;
      if (x.length === 0) return head;
      if (x.text !== null) {
        const cut = x.text.length > MAX_BYTES_TEXT || x.length > MAX_BYTES_TEXT * 4;
        const shown = text(x.text.slice(0, MAX_BYTES_TEXT), where);
        return `${head} ${JSON.stringify(shown)}${cut ? '…' : ''}`;
      }
      return `${head} hex ${x.hex}${x.length > MAX_BYTES_HEX ? ' …' : ''}`;
    }
    default:
      return null;
  }
}
