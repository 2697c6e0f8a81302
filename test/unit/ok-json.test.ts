// The test helper okJson (test/helpers/net.ts): a poll of a control app or a discovery list reads
// a body as JSON only from a 200, and any other answer fails with what it was (findings order7.1:
// an empty answer at a load of 43 said only "Unexpected end of JSON input").
import { describe, expect, it } from 'vitest';
import { okJson } from '../helpers/net.js';

describe('okJson', () => {
  it('hands back the JSON body of a 200', async () => {
    expect(await okJson(new Response('{"booted_workers":2}\n', { status: 200, headers: { 'content-type': 'application/json' } }), '/stats')).toEqual({ booted_workers: 2 });
  });

  it('names the status and the body of any other answer, an empty one too', async () => {
    await expect(okJson(new Response(null, { status: 408, statusText: 'Request Timeout' }), '/stats')).rejects.toThrow('/stats: expected 200 with JSON, got 408 Request Timeout ("", content-type null)');
    const busy = '{"error":"The control app is busy","code":"TSPUMA_ERR_LISTENER_BUSY"}\n';
    await expect(okJson(new Response(busy, { status: 503, headers: { 'content-type': 'application/json' } }), '/stats')).rejects.toThrow(`got 503 (${JSON.stringify(busy)}, content-type application/json)`);
  });

  it('names the body of a 200 that is not JSON', async () => {
    await expect(okJson(new Response('', { status: 200 }), '/json/list')).rejects.toThrow('/json/list: 200 with a body that is not JSON (Unexpected end of JSON input): ""');
  });
});
