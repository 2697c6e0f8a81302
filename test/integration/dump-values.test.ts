// Integration: values of every kind in a dump (ES private fields, Map and Set entries with the
// types of their keys, Buffers as text or hex and redacted under a key's name, URLs by their
// redacted href, Dates, BigInts), and the app's values for throws that are not the app's own: in
// node's code (crypto) and in a real dependency (a strict Handlebars template) under an app frame.
// And tspuma's own caught throws at boot (port-holder scans) never use up the app's first capture.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump, DumpFrame } from '../../diagnostics/model.js';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { dumpsIn, lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/values-app.ts';

function dumpFor(dir: string, text: string): Promise<Dump> {
  return waitFor(() => dumpsIn(dir).find((d) => d.error.message.includes(text)), `a dump for "${text}"`);
}
const culpritOf = (d: Dump): DumpFrame => d.frames[d.culprit]!;
const summary = (v: unknown) => (v !== null && typeof v === 'object' ? (v as { summary: string }).summary : v);

afterAll(killAll);

// One server for the two describes below: each case fails at a site of its own and finds its dump by
// its message, so none sees another's (a second boot of the same flags was 0.3 s of CPU).
let s: Booted;
const dir = tempDir('values');
beforeAll(async () => {
  s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
});

describe('values of every kind', () => {

  it("shows a receiver's ES private fields with their values", async () => {
    expect((await fetch(`${s.url}/wallet`)).status).toBe(500);
    const d = await dumpFor(dir, 'insufficient funds for ann');
    expect(culpritOf(d)).toMatchObject({ function: 'Wallet.debit', file: APP, line: lineOf(APP, 'throw new Error(`insufficient funds') });
    expect(culpritOf(d).receiverFields).toMatchObject({ owner: 'ann', '#balanceCents': 1250 });
    expect(culpritOf(d).locals).toMatchObject({ cents: 5000 });
  });

  it('shows a parameter the compiler renamed (it shadows a module constant) under its source name with its own value, not the constant', async () => {
    expect((await fetch(`${s.url}/total`)).status).toBe(500);
    const d = await dumpFor(dir, 'discount 2 for hat');
    expect(culpritOf(d)).toMatchObject({ function: 'total', line: lineOf(APP, 'throw new RangeError(`discount'), locals: { d: 2, discounts: { summary: 'Map(1) {"hat" => 2}' } } });
    expect(d.frames.flatMap((f) => Object.keys(f.locals)).filter((k) => /^discounts\d/.test(k))).toEqual([]);
  });

  it("shows a Map's entries with their keys' types, so a string key in a Map keyed by numbers is seen", async () => {
    expect((await fetch(`${s.url}/price?id=14`)).status).toBe(500);
    const d = await dumpFor(dir, 'no price for 14');
    expect(culpritOf(d)).toMatchObject({ function: 'lookup', line: lineOf(APP, 'throw new Error(`no price for') });
    expect(culpritOf(d).locals).toMatchObject({ id: '14', catalog: { summary: 'Map(2) {14 => "socks", 15 => "shoes"}' } });
    expect(Object.values(culpritOf(d).locals).map(summary)).toContain('Set(2) {"new", "sale"}');
  });

  it('shows a Buffer holding UTF-8 JSON as its text, and never the bytes of one named as a key', async () => {
    expect((await fetch(`${s.url}/message`)).status).toBe(500);
    const d = await dumpFor(dir, 'unknown op in a 36-byte message');
    expect(culpritOf(d)).toMatchObject({ function: 'handleMessage', line: lineOf(APP, 'throw new Error(`unknown op') });
    expect(culpritOf(d).locals).toMatchObject({ message: { summary: 'Buffer(36) "{\\"op\\":\\"subscibe\\",\\"channel\\":\\"orders\\"}"' }, signingKey: '[redacted]' });
    expect(d.frames.find((f) => f.function === 'app')!.locals).toMatchObject({ key: '[redacted]' });
    // The key's bytes appear nowhere: not as text, not as numbers.
    for (const out of [JSON.stringify(d), s.stderr()]) expect(out).not.toMatch(/KEYBYTES|75, 69, 89/);
  });

  it('shows a URL by its redacted href, an invalid Date as such, and a BigInt with its digits', async () => {
    expect((await fetch(`${s.url}/schedule`)).status).toBe(500);
    const d = await dumpFor(dir, 'cannot schedule api.example.test');
    expect(culpritOf(d).locals).toMatchObject({
      target: { summary: 'URL https://api.example.test/v1/jobs?page=2&token=[redacted]' },
      at: { summary: 'Invalid Date' },
      budget: { summary: '123456789012345678901234567890n' },
    });
    expect(s.stderr()).not.toContain('URLTOKEN-5531');
  });
});

describe("throws inside node's code and a dependency, under an app frame", () => {

  it("captures crypto's throw with the values of the app frame that called it (keyHex redacted by its name), and says which frame threw", async () => {
    expect((await fetch(`${s.url}/decrypt?k=abcd`)).status).toBe(500);
    const d = await dumpFor(dir, 'Invalid key length');
    expect(d.captured).toBe(true);
    expect(culpritOf(d)).toMatchObject({ function: 'decrypt', file: APP, line: lineOf(APP, "createDecipheriv('aes-256-cbc'"), locals: { keyHex: '[redacted]', payload: '00' } });
    // keyHex is secret by its name (DEBUGGING.md, Redaction), and so is the key made from it.
    expect(culpritOf(d).locals.key).toBe('[redacted]');
    expect(d.frames[0]).toMatchObject({ origin: 'node', file: expect.stringMatching(/^node:internal\/crypto/) });
    expect(d.note).toMatch(/^thrown inside node's code \(.+ at node:internal\/crypto\/.+\), called from decrypt at test\/fixtures\/apps\/values-app\.ts:\d+/);
  });

  it("captures a strict Handlebars template's throw with the app's view model, the value that explains it", async () => {
    expect((await fetch(`${s.url}/receipt`)).status).toBe(500);
    const d = await dumpFor(dir, '"currency" not defined');
    expect(d.captured).toBe(true);
    expect(culpritOf(d)).toMatchObject({ function: 'renderReceipt', file: APP, line: lineOf(APP, 'return receipt(view);'), locals: { view: { summary: 'Object {customer: Object, total: 42}' } } });
    expect(d.frames[0]!.file).toMatch(/node_modules\/handlebars\//);
    expect(d.note).toMatch(/^thrown inside the package handlebars /);
  });
});

describe("tspuma's own throws at boot", () => {
  it("leave the app's first failure its values when another server holds the inspector ports tspuma probes (-w 1)", async () => {
    // Another server holds the discovery port and worker 0's inspector port: tspuma scans /proc for
    // who holds them (a caught throw per unreadable process) and opens other ports.
    const held: net.Server[] = [];
    const first = await new Promise<net.Server>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => resolve(srv));
    });
    held.push(first);
    const port = (first.address() as net.AddressInfo).port;
    const second = net.createServer();
    await new Promise<void>((resolve, reject) => second.once('error', reject).listen(port + 2, '127.0.0.1', () => resolve()));
    held.push(second);
    try {
      const dir = tempDir('boot-probes');
      const s = await boot(['-w', '1', '-d', `--inspect=127.0.0.1:${port}`, '-b', 'tcp://127.0.0.1:0', APP], { TSPUMA_DUMP_DIR: dir });
      await waitFor(() => s.stdout().includes('is in use'), 'the port-in-use warning');
      expect((await fetch(`${s.url}/wallet`)).status).toBe(500);
      const d = await dumpFor(dir, 'insufficient funds for ann');
      expect(d.captured).toBe(true);
      expect(culpritOf(d)).toMatchObject({ function: 'Wallet.debit', line: lineOf(APP, 'throw new Error(`insufficient funds'), locals: { cents: 5000 } });
    } finally {
      for (const h of held) h.close();
    }
  });
});
