// The value checks option records are built from: each takes a raw value (a string when it came
// from the command line or the environment) and returns it normalised, or throws Expected.
import type { Hook } from './app-types.js';

/** Thrown by a check with what was expected; options.ts turns it into TSPUMA_ERR_OPTION_INVALID. */
export class Expected extends Error {}

/** A check: the raw value and whether it came as text (CLI, environment) → the normalised value. */
export type Check<T> = (raw: unknown, fromString: boolean) => T;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Node's own default inspector port, which chrome://inspect watches out of the box. */
export const DEFAULT_INSPECT = Object.freeze({ host: '127.0.0.1', port: 9229 });

/** "9229", "HOST:9229", "[::1]:9229" -> host and port; null when malformed. */
export function parseInspectAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) return null;
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : DEFAULT_INSPECT.host;
  return { host, port: Number(m[2]) };
}

export const TRUE_WORDS: readonly string[] = ['1', 'true', 'yes', 'on'];
export const FALSE_WORDS: readonly string[] = ['0', 'false', 'no', 'off'];

export const parseBool: Check<boolean> = (raw, fromString) => {
  if (typeof raw === 'boolean') return raw;
  if (fromString && typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (TRUE_WORDS.includes(s)) return true;
    if (FALSE_WORDS.includes(s)) return false;
  }
  throw new Expected('a boolean (true or false)');
};

export function parseNumber(raw: unknown, fromString: boolean, expected: string, integer: boolean): number {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (fromString && typeof raw === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(raw)) n = Number(raw);
  else throw new Expected(expected);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Expected(expected);
  return n;
}

/** An integer from min to max; `expected` says so in words. */
export const integer = (min: number, max: number, expected: string): Check<number> => (raw, fs) => {
  const n = parseNumber(raw, fs, expected, true);
  if (n < min || n > max) throw new Expected(expected);
  return n;
};

/** Seconds up to a day: above 0, or from 0 (off) when allowZero. */
export const seconds = (allowZero: boolean): Check<number> => (raw, fs) => {
  const expected = allowZero ? 'a number of seconds from 0 (off) to 86400' : 'a number of seconds greater than 0 and at most 86400';
  const n = parseNumber(raw, fs, expected, false);
  if ((allowZero ? n < 0 : n <= 0) || n > 86400) throw new Expected(expected);
  return n;
};

/** null, or from text "", "none", "null", "off"; anything else goes to `inner`. */
export const nullable = <T>(inner: Check<T>): Check<T | null> => (raw, fs) => {
  if (raw === null || (fs && typeof raw === 'string' && ['', 'none', 'null', 'off'].includes(raw.trim().toLowerCase()))) return null;
  return inner(raw, fs);
};

/** A function (checked by type only: what it does is the user's), or null. */
export const functionOrNull = <T>(expected: string): Check<T | null> => (raw) => {
  if (raw === null || typeof raw === 'function') return raw as T | null;
  throw new Expected(expected);
};

export const hooks: Check<Hook[]> = (raw) => {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.every((h) => typeof h === 'function')) return list as Hook[];
  throw new Expected('a function or an array of functions');
};

export const nonEmptyString = (expected = 'a non-empty string'): Check<string> => (raw) => {
  if (typeof raw === 'string' && raw.trim() !== '') return raw;
  throw new Expected(expected);
};

export type ThreadsValue = { min?: number; max?: number };

export const parseThreads: Check<ThreadsValue> = (raw, fs) => {
  const expected = 'MIN:MAX (or MAX) with integers 0 <= MIN <= MAX, 1 <= MAX <= 100000';
  if (fs && typeof raw === 'string') {
    const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(raw);
    if (!m) throw new Expected(expected);
    return m[2] === undefined ? { max: Number(m[1]) } : { min: Number(m[1]), max: Number(m[2]) };
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const extra = Object.keys(raw).filter((k) => k !== 'min' && k !== 'max');
    if (extra.length === 0) {
      const out: ThreadsValue = {};
      const { min, max } = raw as { min?: unknown; max?: unknown };
      if (min !== undefined) out.min = parseNumber(min, false, expected, true);
      if (max !== undefined) out.max = parseNumber(max, false, expected, true);
      return out;
    }
  }
  throw new Expected('an object { min, max } of integers with 0 <= min <= max');
};

/** An environment variable holding a count: a non-negative integer. */
export function envCount(text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new Expected('a non-negative integer');
  return Number(text);
}

export const parseInspect: Check<boolean | string | null> = (raw, fs) => {
  if (raw === null) return null;
  const expected = 'true, false, a port, or HOST:PORT (an IPv6 host in brackets)';
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 65535) return String(raw);
  if (typeof raw !== 'string') throw new Expected(expected);
  const text = raw.trim();
  if (fs && ['true', 'on', 'yes', '1'].includes(text.toLowerCase())) return true;
  if (fs && ['false', 'off', 'no'].includes(text.toLowerCase())) return false;
  if (parseInspectAddress(text) === null) throw new Expected(expected);
  return text;
};

export const parseRegexSource: Check<string> = (raw) => {
  const expected = 'a regular expression source matching secret names, e.g. "session|ssn"';
  const text = nonEmptyString(expected)(raw, false);
  try {
    new RegExp(text, 'i');
  } catch {
    throw new Expected(expected);
  }
  return text;
};

export const parseMethods: Check<'any' | string[]> = (raw, fs) => {
  const expected = '"any" or an array of HTTP method names such as ["GET", "POST"]';
  if (raw === 'any') return 'any';
  const list = fs && typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw;
  if (Array.isArray(list) && list.length > 0 && list.every((m) => typeof m === 'string' && /^[A-Za-z-]+$/.test(m)))
    return list.map((m: string) => m.toUpperCase());
  throw new Expected(expected);
};
