// What a `--when` compiled into a live-edit gate (probe-when-compile.ts) calls as it runs, in the
// app's own frame at every pass of the probed line: a member reader that returns an own or
// inherited DATA property and never runs the app's code (a getter, a proxy, a module namespace:
// "undecided"; the engine's own getters Map/Set size and a typed array's length are read), a check
// that an operand of a comparison or of arithmetic is a primitive (an object would run its valueOf),
// and the `?.` chain's short-circuit. Nothing here throws. Each pass ends with takeWhen(), which
// says whether the value computed can be trusted: decided, "threw" (the source would throw a
// TypeError there: reading a member of null or undefined) or "undecided" (only V8 evaluating the
// source can say; the gate pauses for that: inspector/probes.ts).
import { types } from 'node:util';

/** What a try-wrapped condition answers when a name it reads was not set yet (its TDZ). */
export const UNDECIDED: unique symbol = Symbol('tspuma.when.undecided');
/** A `?.` that met null or undefined: the rest of its chain is undefined. */
const SHORT: unique symbol = Symbol('tspuma.when.short');

const { getOwnPropertyDescriptor, getPrototypeOf, hasOwn } = Object;
const apply = Reflect.apply;
const { isProxy, isModuleNamespaceObject, isMap, isSet, isTypedArray } = types;
const MAP_SIZE = getOwnPropertyDescriptor(Map.prototype, 'size')!.get!;
const SET_SIZE = getOwnPropertyDescriptor(Set.prototype, 'size')!.get!;
const TYPED_LENGTH = getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype) as object, 'length')!.get!;

/** 0 decided, 1 threw (a member of null/undefined), 2 undecided: what the pass under way met. */
let state: 0 | 1 | 2 = 0;

/** What the condition just evaluated met; cleared for the next. */
export function takeWhen(): 0 | 1 | 2 {
  const s = state;
  state = 0;
  return s;
}

function undecided(): undefined {
  state = 2;
  return undefined;
}

/** `o[k]` when that reads a data property (own or inherited), an intrinsic size/length getter; else undecided. */
export function read(o: unknown, k: string): unknown {
  if (o === SHORT) return SHORT;
  if (o === null || o === undefined) {
    if (state === 0) state = 1;
    return undefined;
  }
  try {
    for (let p: unknown = o; p !== null; p = getPrototypeOf(p)) {
      if (typeof p === 'object' || typeof p === 'function') {
        if (isProxy(p) || isModuleNamespaceObject(p)) return undecided();
      }
      const d = getOwnPropertyDescriptor(p, k);
      if (d === undefined) continue;
      if (hasOwn(d, 'value')) return d.value;
      const get = d.get;
      if (get === MAP_SIZE && isMap(o)) return apply(MAP_SIZE, o, []);
      if (get === SET_SIZE && isSet(o)) return apply(SET_SIZE, o, []);
      if (get === TYPED_LENGTH && isTypedArray(o)) return apply(TYPED_LENGTH, o, []);
      return undecided();
    }
    return undefined;
  } catch {
    return undecided();
  }
}

/** `o?.[k]`: the chain's short-circuit at null or undefined. */
export function readOptional(o: unknown, k: string): unknown {
  return o === null || o === undefined || o === SHORT ? SHORT : read(o, k);
}

/** The end of a `?.` chain. */
export function chainEnd(v: unknown): unknown {
  return v === SHORT ? undefined : v;
}

/** An operand of a comparison or arithmetic: a primitive that converts without running code, else undecided. */
export function primitive(v: unknown): unknown {
  const t = typeof v;
  if (t === 'number' || t === 'string' || t === 'boolean' || v === undefined || v === null) return v;
  undecided();
  return 0;
}
