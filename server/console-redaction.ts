// Secrets in what the app's process writes through console.error and console.warn. Frameworks log
// the errors they answer themselves there (Express's default error handler, Hono's onError, most
// error middleware): the error's message, its own fields (`apiKey: 'sk_live_…'`), a request body
// that did not parse. tspuma applies its value rules (the same Redactor as log lines and dumps)
// to that text before it is written: a line with nothing secret is written exactly as the app
// passed it (same arguments, colours and all); a line with a secret is formatted once, redacted
// and written as text. console.trace and console.assert write through these two and follow.
//
// A framework's message may also quote the request's own secrets with no secret name before them
// (`key=${c.req.header('x-api-key')}`): the error never reaches tspuma, so before such a line is
// formatted the secret header values of the requests in the app now (each server says which:
// watchConsoleRequests; the last few that left the app too, RecentRequests) are remembered, and
// the value rules replace them wherever they stand. This runs only when the app writes to
// console.error or console.warn; a request's own path only stores it in the ring.
//
// Installed once per process, before the diagnostics layer's own console watch (which must keep
// seeing the app's Error objects), and configured when the options are known (`redact`,
// `redactCardNumbers`, `redactConsole`).
import type { IncomingHttpHeaders } from 'node:http';
import { format } from 'node:util';
import { MAX_SCANNED, Redactor, rememberSecret } from '../diagnostics/redact.js';

type Method = 'error' | 'warn';
const METHODS: readonly Method[] = ['error', 'warn'];

export interface ConsoleRedaction {
  /** Rules from the options; `null` turns redaction off (the `redactConsole` option set to false). */
  configure(redactor: Redactor | null): void;
  /** Adds a source of the requests a line written now may quote; returns its removal. */
  watch(requests: RequestsNow): () => void;
  /** Puts back the methods this installed, unless something replaced them since. */
  uninstall(): void;
}

/** A request as this module reads it: its headers and URL. */
export interface RequestSeen {
  readonly headers: IncomingHttpHeaders;
  readonly url?: string | undefined;
}

/** The requests whose work may be running now (the current one first, when known). */
export type RequestsNow = () => Iterable<RequestSeen | null>;

/**
 * Whether `line` quotes a part of `value` worth remembering: the value itself, or a piece of it
 * between separators (a Bearer token, a cookie's value, a query value) of at least 6 characters
 * (redact.ts remembers nothing shorter), or the password of a Basic credential.
 */
function quotes(line: string, value: string): boolean {
  if (line.includes(value)) return true;
  for (const piece of value.split(/[\s;,=&?:]+/)) if (piece.length >= 6 && line.includes(piece)) return true;
  const basic = /^Basic\s+(\S+)$/i.exec(value);
  if (basic) {
    const password = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':');
    if (password.length >= 6 && line.includes(password)) return true;
  }
  return false;
}

/**
 * Remembers the secrets of `req` that `line` quotes (redact.ts, rememberSecret: the value rules
 * then replace them): the values of its secret-named headers (a Bearer token and each cookie value
 * with them), and the secret query values of its URL and its Referer, which the value rules find by
 * their names. A request whose secrets the line does not quote adds nothing to what is remembered.
 */
function rememberRequest(req: RequestSeen, rules: Redactor, line: string): void {
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (rules.isSecretStringKey(name)) {
      for (const v of Array.isArray(value) ? value : [value]) if (quotes(line, v)) rememberSecret(v);
    } else if (name === 'referer' && typeof value === 'string' && value.includes('=') && quotes(line, value)) rules.query(value);
  }
  if (req.url?.includes('=') && quotes(line, req.url)) rules.query(req.url);
}

/** How many requests that left the app a line may still quote (RecentRequests): a power of two. */
const RECENT = 8;

/**
 * The last requests that left the app, for the lines written just after: a framework may print a
 * request's error once its response went out (Express's final handler defers its console.error
 * to a setImmediate), when the request is no longer among those in the app (review19.3). A fixed
 * ring: one store per request, read only when a line is written.
 */
export class RecentRequests {
  private readonly ring: (RequestSeen | undefined)[] = new Array<RequestSeen | undefined>(RECENT).fill(undefined);
  private next = 0;

  add(req: RequestSeen): void {
    this.ring[this.next] = req;
    this.next = (this.next + 1) & (RECENT - 1);
  }

  /** Newest first. */
  *requests(): IterableIterator<RequestSeen> {
    for (let i = 1; i <= RECENT; i++) {
      const req = this.ring[(this.next - i) & (RECENT - 1)];
      if (req !== undefined) yield req;
    }
  }
}

/**
 * Requests read per line at the most, over every source: a worker with more in its app at once is
 * rare, and a line is not made to wait on a thousand header lists.
 */
const MAX_REQUESTS_READ = 64;

/** `text` with the value rules applied; a text longer than the rules read is taken in parts cut at line ends. */
export function redactConsoleText(text: string, redactor: Redactor): string {
  if (text.length <= MAX_SCANNED) return redactor.query(text);
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + MAX_SCANNED);
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end - 1);
      if (nl > start) end = nl + 1;
    }
    out.push(redactor.query(text.slice(start, end)));
    start = end;
  }
  return out.join('');
}

const installed = new WeakMap<object, ConsoleRedaction>();

/**
 * Wraps `target`'s error and warn methods (the global console by default). Installing twice on one
 * console returns the first installation (start() may run several servers in one process).
 */
export function installConsoleRedaction(target: Pick<Console, Method> = console, redactor: Redactor | null = new Redactor()): ConsoleRedaction {
  const existing = installed.get(target);
  if (existing) return existing;
  let rules = redactor;
  const sources = new Set<RequestsNow>();
  /** The secret header values of the requests now, remembered so that the rules below replace them anywhere in the line. */
  const rememberRequests = (current: Redactor, line: string): void => {
    let read = 0;
    for (const source of sources) {
      for (const req of source()) {
        if (req === null) continue;
        rememberRequest(req, current, line);
        if (++read >= MAX_REQUESTS_READ) return;
      }
    }
  };
  const originals = new Map<Method, (...args: unknown[]) => void>();
  const wrappers = new Map<Method, (...args: unknown[]) => void>();
  for (const method of METHODS) {
    const original = target[method] as (...args: unknown[]) => void;
    const wrapper = function (this: unknown, ...args: unknown[]): void {
      let text: string | null = null;
      if (rules !== null) {
        try {
          const formatted = format(...args);
          if (sources.size > 0) rememberRequests(rules, formatted);
          const redacted = redactConsoleText(formatted, rules);
          if (redacted !== formatted) text = redacted;
        } catch {
          // An argument whose inspection throws: the app's own console call reports it, as without tspuma.
        }
      }
      if (text === null) return original.apply(this, args);
      return original.call(this, text);
    };
    originals.set(method, original);
    wrappers.set(method, wrapper);
    target[method] = wrapper;
  }
  const handle: ConsoleRedaction = {
    configure(next) {
      rules = next;
    },
    watch(requests) {
      sources.add(requests);
      return () => void sources.delete(requests);
    },
    uninstall() {
      for (const method of METHODS) if (target[method] === wrappers.get(method)) target[method] = originals.get(method)!;
      installed.delete(target);
    },
  };
  installed.set(target, handle);
  return handle;
}

/**
 * Adds `requests` to what the console redaction installed on `target` reads before each line;
 * nothing (and a no-op removal) where none is installed (a Server in a unit test).
 */
export function watchConsoleRequests(requests: RequestsNow, target: Pick<Console, Method> = console): () => void {
  return installed.get(target)?.watch(requests) ?? (() => {});
}
