// Where an error was made, read from V8's call sites without formatting its stack text
// (diagnostics/made-at.ts): the key names the frames, and the stack text reads after as before.
import { describe, expect, it } from 'vitest';
import { madeKey } from '../../diagnostics/made-at.js';

function make(message: string): Error {
  return new Error(message);
}

// Two callers of one helper that makes the error: the helper's frame alone does not tell them apart.
const viaA = (m: string) => make(m);
const viaB = (m: string) => make(m);

describe('madeKey', () => {
  it('keys an error by the frames it was made under: the same line gives the same key, another caller another', () => {
    // Made on one line of this test: the frames below the callers are the same.
    const [one, two, other] = [viaA, viaA, viaB].map((via, i) => madeKey(via(`x${i}`), 4));
    expect(one).toMatch(/made-at\.test\.ts:\d+;/);
    expect(two).toBe(one);
    expect(other).not.toBe(one);
    // One frame deep, both are the helper's.
    const [a, b] = [viaA, viaB].map((via) => madeKey(via('x'), 1));
    expect(a).toBe(b);
  });

  it("formats nothing while reading, and the stack text is the formatter's own when the app reads it", () => {
    const [plain, keyed] = [1, 2].map(() => viaA('same text')) as [Error, Error];
    let formatted = 0;
    const saved = Error.prepareStackTrace;
    Error.prepareStackTrace = (err, sites) => {
      formatted++;
      return `${String(err)}\n${sites.map((s) => `    at ${s.getFunctionName() ?? '?'}:${s.getLineNumber()}`).join('\n')}`;
    };
    try {
      expect(madeKey(keyed, 4)).not.toBeNull();
      expect(formatted).toBe(0);
      expect(Object.getOwnPropertyDescriptor(keyed, 'stack')?.get).toBeTypeOf('function');
      expect(keyed.stack).toBe(plain.stack);
      expect(formatted).toBe(2);
      // Read once, it is V8's plain data property again, read without formatting.
      expect(Object.getOwnPropertyDescriptor(keyed, 'stack')).toMatchObject({ value: plain.stack, writable: true, enumerable: false, configurable: true });
      void keyed.stack;
      expect(formatted).toBe(2);
    } finally {
      Error.prepareStackTrace = saved;
    }
  });

  it('gives nothing for an error whose text was formatted already or that cannot take the accessor, and leaves its text alone', () => {
    const read = viaA('read');
    const text = read.stack;
    expect(madeKey(read, 4)).toBeNull();
    expect(read.stack).toBe(text);
    const frozen = Object.freeze(viaA('frozen'));
    expect(madeKey(frozen, 4)).toBeNull();
    expect(frozen.stack).toMatch(/^Error: frozen\n {4}at /);
    // Made in code with no file: another such script could have its offsets.
    const evaluated = new Function('return new Error("evaluated")')() as Error;
    expect(madeKey(evaluated, 4)).toBeNull();
    expect(evaluated.stack).toMatch(/^Error: evaluated\n {4}at eval /);
    expect(madeKey('a string', 4)).toBeNull();
    expect(madeKey(null, 4)).toBeNull();
  });

  it('gives nothing for a proxy that refuses the accessor, and its stack text is there all the same', () => {
    const target = viaA('proxied');
    const proxy = new Proxy(target, { defineProperty: (t, key, desc) => (key === 'stack' && 'get' in desc ? false : Reflect.defineProperty(t, key, desc)) });
    expect(madeKey(proxy, 4)).toBeNull();
    expect(proxy.stack).toMatch(/^Error: proxied\n {4}at make /);
  });

  it('gives the text to an error frozen after its key was read, the same text at each read, and ignores a write then as V8 does in sloppy code', () => {
    const [plain, keyed] = [1, 2].map(() => viaA('frozen later')) as [Error, Error];
    expect(madeKey(keyed, 4)).not.toBeNull();
    Object.freeze(keyed);
    expect(keyed.stack).toBe(plain.stack);
    expect(keyed.stack).toBe(plain.stack);
    const other = viaA('frozen, then set');
    expect(madeKey(other, 4)).not.toBeNull();
    Object.freeze(other);
    expect(() => Reflect.set(other, 'stack', 'the app says')).not.toThrow();
    expect(other.stack).toMatch(/^Error: frozen, then set\n {4}at make /);
  });

  it("gives an heir of the error (Object.create) the error's text, as V8's own property does, and no property of its own", () => {
    const [plain, keyed] = [1, 2].map(() => viaA('inherited')) as [Error, Error];
    expect(madeKey(keyed, 4)).not.toBeNull();
    const heir = Object.create(keyed) as Error;
    expect(heir.stack).toBe(plain.stack);
    expect(Object.getOwnPropertyNames(heir)).toEqual([]);
    expect(keyed.stack).toBe(plain.stack);
  });

  it("gives nothing for an error whose own stack getter reads another error's stack (ono's lazy stack), and leaves both texts whole", () => {
    const [plainInner, inner] = [1, 2].map(() => viaA('inner')) as [Error, Error];
    const outer = viaA('outer');
    Object.defineProperty(outer, 'stack', { configurable: true, enumerable: false, get: () => `Error: outer\ncaused by: ${inner.stack}` });
    expect(madeKey(outer, 4)).toBeNull();
    expect(inner.stack).toBe(plainInner.stack);
    expect(outer.stack).toBe(`Error: outer\ncaused by: ${plainInner.stack}`);
  });

  it("keeps what the app sets as the stack before reading it", () => {
    const err = viaA('set');
    expect(madeKey(err, 4)).not.toBeNull();
    err.stack = 'the app says';
    expect(err.stack).toBe('the app says');
    expect(Object.getOwnPropertyDescriptor(err, 'stack')).toMatchObject({ value: 'the app says', writable: true });
  });
});
