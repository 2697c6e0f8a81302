// Unit: the --when compiler (inspector/probe-when-compile.ts) against scopes read from a script
// (probe-edits.ts's guardPlace), and what its code computes with the gate's reader
// (inspector/probe-when-gate.ts): data properties read, getters and proxies never run
// ("undecided"), a member of null "threw", objects in arithmetic "undecided".
import { describe, expect, it } from 'vitest';
import { guardPlace } from '../../inspector/probe-edits.js';
import { compileWhen } from '../../inspector/probe-when-compile.js';
import { UNDECIDED, chainEnd, primitive, read, readOptional, takeWhen } from '../../inspector/probe-when-gate.js';

const SOURCE = [
  "import { limit } from './config.js';",
  'let shared = 1;',
  'let untouched = 2;',
  'export function handle(order, { id }) {',
  '  const total = order.total + shared + limit;',
  '  const discount2 = 0;',
  '  const line = total;',
  '  const after = line;',
  '  return after;',
  '}',
  'export function renamed(discount) {',
  '  const discount2 = discount;',
  '  return discount2;',
  '}',
].join('\n');

/** The scope where a guard before the statement on 1-based `line` runs. */
function scopeOf(line: number) {
  const column = SOURCE.split('\n')[line - 1]!.search(/\S/);
  return guardPlace(SOURCE, true, line - 1, column, 1)!.scope;
}

const G = { gate: 'G' };

describe('compileWhen', () => {
  it('compiles reads of parameters, locals set above the line, and module names the function uses; refuses the rest with the reason', () => {
    const scope = scopeOf(7);
    const reasonOf = (when: string) => {
      const c = compileWhen(when, scope, G);
      return c.ok ? 'ok' : c.reason;
    };
    expect(reasonOf('total > 100 && order.items.length === 2')).toBe('ok');
    expect(reasonOf('id === 3 || order?.customer?.vip')).toBe('ok');
    expect(reasonOf('shared < total && limit > 0')).toBe('ok');
    expect(reasonOf('order["total"] >= 1 && typeof id === "number" && !order.paid')).toBe('ok');
    expect(reasonOf('after > 1')).toMatch(/reads `after` before its declaration/);
    expect(reasonOf('line > 1')).toMatch(/reads `line` before its declaration/);
    expect(reasonOf('untouched > 1')).toMatch(/`untouched`, a name of an enclosing scope that this function does not use/);
    expect(reasonOf('nosuch === 1')).toMatch(/reads `nosuch`, which is not a parameter or local in scope/);
    expect(reasonOf('order.items.includes(3)')).toBe('it calls a function');
    expect(reasonOf('new Date() > 0')).toMatch(/constructor/);
    expect(reasonOf('/a+/.test(id)')).toMatch(/calls a function|regular expression/);
    expect(reasonOf('id in order')).toMatch(/uses `in`/);
    expect(reasonOf('order[id] > 1')).toMatch(/computed member whose key is not a literal/);
    expect(reasonOf('this.total > 1')).toMatch(/reads `this`/);
    expect(reasonOf('id = 3')).toBe('it assigns');
    expect(reasonOf('`${id}` === "3"')).toMatch(/template literal/);
  });

  it('refuses a name a compiler may have renamed (`discount2` in scope beside `discount`)', () => {
    const c = compileWhen('discount > 1', scopeOf(13), G);
    expect(c).toMatchObject({ ok: false, reason: expect.stringMatching(/`discount2` is in scope beside `discount`/) });
  });

  it('reads a module `let` in a try: a name in its TDZ answers undecided instead of throwing', () => {
    const c = compileWhen('shared > 0', scopeOf(7), G);
    expect(c.ok && c.code).toMatch(/^\(\(\)=>\{try\{return .*\}catch\{return G\.U\}\}\)\(\)$/);
    const inTdz = new Function('G', `return ${(c as { code: string }).code.replace(/shared/g, 'notYet')}; let notYet = 1;`);
    expect(inTdz({ r: read, o: readOptional, c: chainEnd, p: primitive, U: UNDECIDED })).toBe(UNDECIDED);
  });
});

describe('the compiled code with the gate reader', () => {
  const gate = { r: read, o: readOptional, c: chainEnd, p: primitive, U: UNDECIDED };
  /** Evaluates `when` compiled against handle()'s scope at line 7, with `order` and `id` given. */
  const run = (when: string, order: unknown, id = 3): { value: unknown; met: number } => {
    const c = compileWhen(when, scopeOf(7), G);
    if (!c.ok) throw new Error(c.reason);
    takeWhen();
    const value = new Function('G', 'order', 'id', 'total', 'shared', 'limit', `return ${c.code};`)(gate, order, id, 150, 1, 5) as unknown;
    return { value, met: takeWhen() };
  };

  it('decides on data properties, own or inherited, arrays\' and strings\' length, a Map\'s size', () => {
    expect(run('total > 100 && order.items.length === 2', { items: [1, 2] })).toEqual({ value: true, met: 0 });
    expect(run('order.name.length === 3', Object.create({ name: 'bob' }))).toEqual({ value: true, met: 0 });
    expect(run('order.seen.size === 1', { seen: new Map([[1, 1]]) })).toEqual({ value: true, met: 0 });
    expect(run('order?.customer?.vip === true', null)).toEqual({ value: false, met: 0 });
    expect(run('id == "3" && order.n == null', {})).toEqual({ value: true, met: 0 });
  });

  it('never runs a getter or a proxy trap: undecided, and the app code did not run', () => {
    let runs = 0;
    const withGetter = {
      get total() {
        runs++;
        return 500;
      },
    };
    const proxy = new Proxy({ total: 500 }, {
      get: (t, k) => (runs++, Reflect.get(t, k)),
      getOwnPropertyDescriptor: (t, k) => (runs++, Reflect.getOwnPropertyDescriptor(t, k)),
      getPrototypeOf: (t) => (runs++, Reflect.getPrototypeOf(t)),
    });
    expect(run('order.total > 1', withGetter).met).toBe(2);
    expect(run('order.total > 1', proxy).met).toBe(2);
    expect(run('order.inner.total > 1', { inner: proxy }).met).toBe(2);
    expect(run('order.total > 1', Object.create(proxy)).met).toBe(2);
    const valueOf = { valueOf: () => (runs++, 7) };
    expect(run('order.v > 1', { v: valueOf }).met).toBe(2);
    expect(runs).toBe(0);
  });

  it('a member of null or undefined is "threw" (V8 would throw a TypeError: false), after a `?.` it is undefined', () => {
    expect(run('order.meta.vip', { meta: null }).met).toBe(1);
    expect(run('order.meta?.vip.deep === undefined', { meta: null })).toEqual({ value: true, met: 0 });
    expect(run('order.meta && order.meta.vip', { meta: null })).toEqual({ value: null, met: 0 });
  });
});
