// A stand-in for a thrown value tspuma's failure path cannot read: an Error whose message, name or
// stack getter throws, a null-prototype object (no toString), a Symbol name, an `errors` list that
// holds itself (a serializer following it overflows). The request's 500 and its log line are
// made from the stand-in, so no value an app throws leaves its request unanswered. And what a thrown
// object that is no Error says of itself (bareObjectText), for the headlines that would read "Error: ".

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

/**
 * What a thrown or rejected object that is not an Error and has no message of its own says, for a
 * headline (`throw { status: 502, upstream: 'inventory' }`: old code, some HTTP clients; Hono hands
 * a non-Error on as it is): its class and its keys, never its values (one may be a secret). Null
 * for anything else (an Error, an object with a message, a primitive). Reading it never throws.
 */
export function bareObjectText(err: unknown): { name: string; message: string } | null {
  if (err === null || typeof err !== 'object' || err instanceof Error) return null;
  const message = (keys: string) => `thrown or rejected with an object that is not an Error (no message, no stack of its own): ${keys}`;
  try {
    if (typeof (err as { message?: unknown }).message === 'string') return null;
    const ctor = (Object.getPrototypeOf(err) as { constructor?: unknown } | null)?.constructor;
    const name = typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '' ? ctor.name : 'Object';
    const keys = Object.keys(err);
    return { name, message: message(`{${keys.slice(0, MAX_KEYS).join(', ')}${keys.length > MAX_KEYS ? `, … ${keys.length - MAX_KEYS} more` : ''}}`) };
  } catch {
    return { name: 'Object', message: message('its keys could not be read') };
  }
}

/** What a log line says a thrown or rejected value was: a bare object's text, an Error's message, or the value as text. */
export function thrownMessage(err: unknown): string {
  return bareObjectText(err)?.message ?? (err as Error | null | undefined)?.message ?? String(err);
}

/** Keys a bare object's headline names. */
const MAX_KEYS = 8;
