// Secrets in what the app's process writes through console.error and console.warn. Frameworks log
// the errors they answer themselves there (Express's default error handler, Hono's onError, most
// error middleware): the error's message, its own fields (`apiKey: 'sk_live_…'`), a request body
// that did not parse. tspuma applies its value rules (the same Redactor as log lines and dumps)
// to that text before it is written: a line with nothing secret is written exactly as the app
// passed it (same arguments, colours and all); a line with a secret is formatted once, redacted
// and written as text. console.trace and console.assert write through these two and follow.
//
// Installed once per process, before the diagnostics layer's own console watch (which must keep
// seeing the app's Error objects), and configured when the options are known (`redact`,
// `redactCardNumbers`, `redactConsole`).
import { format } from 'node:util';
import { MAX_SCANNED, Redactor } from '../diagnostics/redact.js';

type Method = 'error' | 'warn';
const METHODS: readonly Method[] = ['error', 'warn'];

export interface ConsoleRedaction {
  /** Rules from the options; `null` turns redaction off (the `redactConsole` option set to false). */
  configure(redactor: Redactor | null): void;
  /** Puts back the methods this installed, unless something replaced them since. */
  uninstall(): void;
}

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
  const originals = new Map<Method, (...args: unknown[]) => void>();
  const wrappers = new Map<Method, (...args: unknown[]) => void>();
  for (const method of METHODS) {
    const original = target[method] as (...args: unknown[]) => void;
    const wrapper = function (this: unknown, ...args: unknown[]): void {
      let text: string | null = null;
      if (rules !== null) {
        try {
          const formatted = format(...args);
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
    uninstall() {
      for (const method of METHODS) if (target[method] === wrappers.get(method)) target[method] = originals.get(method)!;
      installed.delete(target);
    },
  };
  installed.set(target, handle);
  return handle;
}
