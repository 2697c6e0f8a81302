// Unit: which probe expressions may be read past V8's side-effect check (a request's caching
// accessors, probe-spec.ts memberChains), how a probe re-finds its line in a file a deploy
// changed (inspector/probes.ts findLine), and how expressions name renamed bindings.
import { describe, expect, it } from 'vitest';
import { memberChains, renameIdentifiers, requestRoot, urlRoot, v8Condition } from '../../server/probe-spec.js';
import { findLine, lineContext } from '../../server/probe-anchor.js';

describe('memberChains', () => {
  it('marks chains through a request made of its read accessors as request reads, others to be checked one by one', () => {
    expect(memberChains('c.req.param("name")')).toEqual([{ text: 'c.req.param("name")', requestRead: true }]);
    expect(memberChains("req.get('user-agent') === 'x' && order.total > 100")).toEqual([
      { text: "req.get('user-agent')", requestRead: true },
      { text: 'order.total', requestRead: false },
    ]);
    expect(memberChains('req.ip')).toEqual([{ text: 'req.ip', requestRead: true }]);
  });

  it('refuses what cannot be checked chain by chain: a body reader, another call, a computed member, new, a template literal', () => {
    expect(memberChains('c.req.json()')).toBeNull();
    expect(memberChains('c.set("k", 1)')).toBeNull();
    expect(memberChains('format(c.req.url)')).toBeNull();
    expect(memberChains('c.req.param(name)')).toEqual([
      { text: 'c.req.param', requestRead: true },
      { text: 'name', requestRead: false },
    ]);
    expect(memberChains('req.headers[key]')).toBeNull();
    expect(memberChains('new URL(req.url)')).toBeNull();
    expect(memberChains('`${req.url}`')).toBeNull();
    // Any name: whether it reads a request is decided by the object's class (requestRoot, M5.3).
    expect(memberChains('cache.get("k")')).toEqual([{ text: 'cache.get("k")', requestRead: true }]);
    expect(memberChains('_req.get("user-agent")')).toEqual([{ text: '_req.get("user-agent")', requestRead: true }]);
    expect(memberChains('cache.get("k").set("v")')).toBeNull();
  });
});

describe('requestRoot', () => {
  it('takes a request read chain up to its last req or request name, else its first name (the object checked to be an HTTP request), ignoring names in strings', () => {
    expect(requestRoot('c.req.param("name")')).toBe('c.req');
    expect(requestRoot('c.req.raw.headers.get("x")')).toBe('c.req');
    expect(requestRoot('request.query("DELETE FROM request")')).toBe('request');
    expect(requestRoot('req.get("x-req")')).toBe('req');
    expect(requestRoot('order')).toBeNull();
    // No req/request name: the chain's first name, whose class decides (a Map is no request).
    expect(requestRoot('_req.get("user-agent")')).toBe('_req');
    expect(requestRoot('cache.get("k")')).toBe('cache');
  });

  it("takes a URL's searchParams reads as reads of the URL before it (checked to be a URL), and nothing that writes them", () => {
    expect(memberChains('url.searchParams.get("q")')).toEqual([{ text: 'url.searchParams.get("q")', requestRead: true }]);
    expect(urlRoot('url.searchParams.get("q")')).toBe('url');
    expect(urlRoot('ctx.url?.searchParams.has("q")')).toBe('ctx.url');
    expect(memberChains('url.searchParams.set("q", "x")')).toBeNull();
    expect(memberChains('url.searchParams.delete("q")')).toBeNull();
  });
});

describe('findLine', () => {
  const spec = { file: '/app/src/repo.ts', line: 3, lineText: '  if (!user) throw new NotFound(id);' };
  const file = (...lines: string[]) => () => `${lines.join('\n')}\n`;

  it('keeps the line while it reads the same', () => {
    expect(findLine(spec, file('a', 'b', '  if (!user) throw new NotFound(id);'))).toEqual({ line: 3 });
  });

  it('follows the line to where a deploy moved it (the nearest that reads the same, indentation aside)', () => {
    expect(findLine(spec, file('// one', '// two', 'a', 'b', '    if (!user) throw new NotFound(id);'))).toEqual({ line: 5 });
  });

  it('a line whose text is also at its old number in another function after a deploy is followed into its own function by its context (S16)', () => {
    const before = ['function getOrder(id) {', '  const found = orders.get(id);', '  return found;', '}'];
    const s16 = { file: '/app/src/orders.ts', line: 3, lineText: '  return found;', context: lineContext(before, 3) };
    const deployed = ['function findByCustomer(c) {', '  const found = byCustomer.get(c);', '  return found;', '}', ...before];
    expect(findLine(s16, file(...deployed))).toEqual({ line: 7 });
    // Unchanged, and with the same text in two functions: stays.
    expect(findLine(s16, file(...before, ...deployed))).toEqual({ line: 3 });
  });

  it('a line whose text is on several lines none of whose context matches is ambiguous, not guessed (S16)', () => {
    const before = ['function getOrder(id) {', '  const found = orders.get(id);', '  return found;', '}'];
    const s16 = { file: '/app/src/orders.ts', line: 3, lineText: '  return found;', context: lineContext(before, 3) };
    expect(findLine(s16, file('function a(x) {', '  const found = x.y;', '  return found;', '};', 'function b(x) {', '  const found = x.z;', '  return found;', '};'))).toEqual({ ambiguous: [3, 7] });
  });

  it('says the line is gone, with what its number reads now, when no line reads the same', () => {
    expect(findLine(spec, file('a', 'b', '  if (!user) throw new Missing(id);'))).toEqual({ gone: '  if (!user) throw new Missing(id);' });
    expect(findLine(spec, file('a'))).toEqual({ gone: null });
  });
});

describe('renameIdentifiers', () => {
  it('writes renamed bindings as compiled, leaving property names and strings alone', () => {
    const renames = new Map([['discounts', 'discounts2']]);
    expect(renameIdentifiers('discounts.get(l.sku) > 1 && order.discounts', renames)).toBe('discounts2.get(l.sku) > 1 && order.discounts');
    expect(renameIdentifiers('"discounts" + discounts?.size + x?.discounts', renames)).toBe('"discounts" + discounts2?.size + x?.discounts');
    expect(renameIdentifiers('discounts', new Map())).toBe('discounts');
  });
});

describe('v8Condition', () => {
  it('asks the gate to pause for the check where a place has no checked condition yet', () => {
    expect(v8Condition({ id: 7, when: null }, true)).toBe('__tspumaProbe.n(7) || (__tspumaProbe(7, 1))');
  });
});
