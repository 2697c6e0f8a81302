// What a framework prints for the errors it answers itself (Hono's onError, Express's default
// error handler: console.error inside the app call) goes through tspuma's value rules, in
// production, without -d, in single mode and in a cluster's workers.
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterAll(killAll);

const APP = 'test/fixtures/apps/console-secrets-app.mjs';
const CARD = '4111111111111111';
const KEY = 'sk_live_51HxAbCdEfGhIjKlMnOp';

async function charge(url: string): Promise<number> {
  const res = await fetch(`${url}/charge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardNumber: CARD, amountCents: 900000 }) });
  await res.arrayBuffer();
  return res.status;
}

describe('console.error and console.warn inside the app', () => {
  // One worker: a worker's console is redacted in the worker itself, the same in each (a second
  // worker was a boot for nothing the case reads: the kernel hands the one request to either).
  for (const [mode, args] of [['single mode', []], ['-w 1', ['-w', '1']]] as const) {
    it(`${mode}, production: Hono's own error line has the card number and the apiKey field redacted; a plain line passes unchanged`, async () => {
      const s = await boot(['-e', 'production', ...args, '-b', 'tcp://127.0.0.1:0', APP]);
      expect(await charge(s.url)).toBe(500);
      expect(await (await fetch(`${s.url}/plain`)).text()).toBe('ok');
      await waitFor(() => s.stderr().includes('plain line 7 from the app\n') && s.stderr().includes("code: 'card_declined'"), 'both lines on stderr', 15_000);
      const stderr = s.stderr();
      expect(stderr).toMatch(/PaymentError: charge of 900000 for card \[redacted\] failed/);
      expect(stderr).toContain("apiKey: '[redacted]'");
      for (const out of [stderr, s.stdout()]) {
        expect(out).not.toContain(CARD);
        expect(out).not.toContain(KEY);
      }
    });
  }

  it('TSPUMA_REDACT_CONSOLE=false writes the line as the app gave it', async () => {
    const s = await boot(['-e', 'production', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_REDACT_CONSOLE: 'false' });
    expect(await charge(s.url)).toBe(500);
    await waitFor(() => s.stderr().includes("code: 'card_declined'"), "Hono's error line on stderr", 15_000);
    expect(s.stderr()).toContain(`for card ${CARD} failed`);
  });
});
