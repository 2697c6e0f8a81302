// Pins the one undici internal tspuma reads (server/fetch-response.ts's nativeBody, named by
// node-http.ts as the sibling that holds it): a Response keeps its state under an own symbol
// described "state", whose body has the source it was built from and the length undici knows.
// undici's own Response is fetch-response.ts's nativeResponse() (taken before tspuma's global is
// installed, as another test file in the same worker may have done).
import { Blob } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { nativeBody, nativeResponse } from '../../server/fetch-response.js';

const UndiciResponse = nativeResponse();

describe("undici's Response state (read by nativeBody)", () => {
  it('has one own symbol described "state"', () => {
    const symbols = Object.getOwnPropertySymbols(new UndiciResponse('hi')).filter((s) => s.description === 'state');
    expect(symbols).toHaveLength(1);
  });

  it('keeps the string or bytes a Response was built from, and the length of a Blob body', () => {
    expect(nativeBody(new UndiciResponse('hello'))).toEqual({ source: 'hello', length: 5 });
    const bytes = new Uint8Array([1, 2, 3]);
    expect(nativeBody(new UndiciResponse(bytes)).source).toEqual(bytes);
    expect(nativeBody(new UndiciResponse(new Blob(['abcd']) as unknown as globalThis.Blob)).length).toBe(4);
  });

  it('gives nothing for a body already used, so it goes through the stream', async () => {
    const used = new UndiciResponse('once');
    await used.text();
    expect(nativeBody(used)).toEqual({});
  });
});
