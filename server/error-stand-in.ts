// A stand-in for a thrown value tspuma's failure path cannot read: an Error whose message, name or
// stack getter throws, a null-prototype object (no toString), a Symbol name, an `errors` list that
// holds itself (a serializer following it overflows). The request's 500 and its log line are
// made from the stand-in, so no value an app throws leaves its request unanswered.

/** `read()` as text, or `fallback` when reading or converting it throws (or it is null/undefined). */
export function readText(read: () => unknown, fallback: string): string {
  try {
    const v = read();
    if (typeof v === 'string') return v;
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'symbol') return v.toString();
    return String(v);
  } catch {
    return fallback;
  }
}

/** A plain Error with what could be read of `err` (name, message, stack): reading it never throws. */
export function standInError(err: unknown): Error {
  const object = err !== null && (typeof err === 'object' || typeof err === 'function');
  const name = object ? readText(() => (err as { name?: unknown }).name, 'Error') : typeof err;
  const message = object ? readText(() => (err as { message?: unknown }).message, '(its message could not be read)') : readText(() => err, typeof err);
  const e = new Error(message);
  Object.defineProperty(e, 'name', { value: name, enumerable: false, writable: true, configurable: true });
  e.stack = object ? readText(() => (err as { stack?: unknown }).stack, `${name}: ${message}`) : `${name}: ${message}`;
  return e;
}
