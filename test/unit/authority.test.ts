// The one authority validator (Host, absolute-form targets, trusted forwarded hosts) and the URL
// built from it: what it accepts and refuses, and that a URL joined without the URL parser is
// exactly what the parser would print.
import { describe, expect, it } from 'vitest';
import { absoluteUrl, authorityProblem, parseAuthority, parseTarget } from '../../server/authority.js';

describe('parseAuthority', () => {
  it('accepts host names, IPv4, IPv6 literals and ports up to 65535; lower-cases the name', () => {
    expect(parseAuthority('Example.COM')).toEqual({ hostname: 'example.com', port: null });
    expect(parseAuthority('t:8080')).toEqual({ hostname: 't', port: 8080 });
    expect(parseAuthority('127.0.0.1:65535')).toEqual({ hostname: '127.0.0.1', port: 65535 });
    expect(parseAuthority('[::1]:80')).toEqual({ hostname: '[::1]', port: 80 });
    expect(parseAuthority('[2001:DB8::1]')).toEqual({ hostname: '[2001:db8::1]', port: null });
    expect(parseAuthority('t:')).toEqual({ hostname: 't', port: null });
  });

  it('refuses a path, query, fragment, userinfo, white space, percent-encoding, a bad port or IPv6 literal, and says why', () => {
    const cases: [string, RegExp][] = [
      ['t/json/ADMIN?', /path, query or fragment/],
      ['t:1/admin/../secret?', /not a number|path/],
      ['a b', /white space/],
      ['evil@t', /userinfo/],
      ['localhost:65536', /over 65535/],
      ['evil:99999', /over 65535/],
      ['t:8o', /not a number/],
      ['a%2fb', /letters, digits/],
      ['[::g]', /IPv6/],
      ['::1', /more than one colon/],
      ['', /letters, digits/],
    ];
    for (const [text, why] of cases) {
      expect({ text, parsed: parseAuthority(text) }).toEqual({ text, parsed: null });
      expect(authorityProblem(text)).toMatch(why);
    }
  });
});

describe('parseTarget', () => {
  it('splits origin-form into path and query and drops a fragment', () => {
    expect(parseTarget('/a/b?x=1#frag')).toEqual({ authority: null, scheme: null, path: '/a/b', query: 'x=1', hasQuery: true });
    expect(parseTarget('/a#f?x')).toEqual({ authority: null, scheme: null, path: '/a', query: '', hasQuery: false });
  });

  it('takes absolute-form apart with its own validated authority', () => {
    expect(parseTarget('HTTP://Other.Example:8080/x?q')).toEqual({ authority: { hostname: 'other.example', port: 8080 }, scheme: 'http', path: '/x', query: 'q', hasQuery: true });
    expect(parseTarget('https://o.example')).toMatchObject({ scheme: 'https', path: '/' });
    expect(parseTarget('http://evil@o.example/x')).toBeNull();
    expect(parseTarget('ftp://o.example/x')).toBeNull();
    expect(parseTarget('x/y')).toBeNull();
  });
});

describe('absoluteUrl', () => {
  it('equals what the URL parser prints, whether or not it needed the parser', () => {
    const cases: [scheme: 'http' | 'https', host: string, target: string][] = [
      ['http', 't', '/json/x?y=1'],
      ['http', 't:80', '/'],
      ['https', 't:443', '/a'],
      ['https', 't:8443', '/a'],
      ['http', 'Example.COM', '/A/./b/../c?q=a b'],
      ['http', '[::1]:9292', '/v6'],
      ['http', 't', '//evil.example/x'],
      ['http', 't', "/it's?q='x'"],
      ['http', 't', '/%2e%2e/secret'],
      ['http', 't', '/caf\u00e9?\u00e9=1'],
    ];
    for (const [scheme, host, target] of cases) {
      const url = absoluteUrl(scheme, parseAuthority(host)!, parseTarget(target)!);
      expect({ target, url }).toEqual({ target, url: new URL(`${scheme}://${host}${target}`).href });
      expect(new URL(url).host).toBe(new URL(`${scheme}://${host}`).host);
    }
  });
});
