// Integration: when tspuma destroys a response after its head (the app threw once the head was
// out), the request's 'error' listeners see node:http's own abort error, the same one node:http
// gives when the app destroys the response itself: class, message, code and stack text. tspuma
// formats that error's stack without node's source-map lookups (node-http.ts destroyAborted);
// source maps are on for a .ts app, and with -d. An app's own Error.prepareStackTrace (Sentry's)
// formats it as it formats node's own abort error.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

afterEach(killAll);

const APP = 'test/fixtures/apps/abort-seen-app.ts';

interface Seen {
  url: string;
  name: string;
  message: string;
  code: unknown;
  ctor: string;
  stack: string;
  aborted: boolean;
}

async function seenBy(url: string): Promise<Seen[]> {
  return (await (await fetch(`${url}/seen`)).json()) as Seen[];
}

/** A GET whose response is cut off (its head was written but never flushed: the client sees the connection close). */
async function cutOff(url: string): Promise<void> {
  await expect(fetch(url, { signal: AbortSignal.timeout(30_000) }).then((r) => r.text())).rejects.toThrow(/fetch failed|terminated/);
}

describe("the request's abort error after tspuma destroys a failed response", () => {
  for (const debug of [false, true]) {
    it(`${debug ? 'with -d' : 'without -d'}: is node:http's own ECONNRESET 'aborted' error, with the same stack text as when the app destroys the response itself`, async () => {
      const s = await boot([...(debug ? ['-d', '--inspect=off'] : []), '-b', 'tcp://127.0.0.1:0', APP]);
      // Twice each: a repeated failure takes the folded path (and, with -d, a muted site).
      for (const path of ['/fail', '/destroy', '/fail', '/destroy']) await cutOff(`${s.url}${path}`);
      const seen = await waitFor(async () => {
        const list = await seenBy(s.url);
        return list.length >= 4 ? list : undefined;
      }, 'four abort errors seen by the app');
      const byTspuma = seen.filter((e) => e.url === '/fail');
      const byNode = seen.filter((e) => e.url === '/destroy');
      expect([byTspuma.length, byNode.length]).toEqual([2, 2]);
      const first = byNode[0]!;
      expect({ name: first.name, message: first.message, code: first.code, ctor: first.ctor, aborted: first.aborted }).toEqual({
        name: 'Error',
        message: 'aborted',
        code: 'ECONNRESET',
        ctor: first.ctor,
        aborted: true,
      });
      const frames = first.stack.split('\n').slice(1);
      expect(first.stack.split('\n')[0]).toBe('Error: aborted');
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.filter((f) => !/^ {4}at .*\(?node:[^)]+\)?$/.test(f))).toEqual([]);
      for (const e of [...byTspuma, ...byNode]) expect({ ...e, url: '' }).toEqual({ ...first, url: '' });
    });
  }

  /**
   * In a node of its own, with source maps on as for a .ts app: a server whose '/node' response the
   * app destroys and whose '/server' response tspuma destroys (destroyResponse), each abort error's
   * stack as the request's 'error' listener reads it, with how many times `formatted` got 'aborted'
   * meanwhile. `before` runs before node-http.js loads (and takes node's formatter as node's);
   * `after` once it, and with `filtered` -d's frame filter (an accessor on Error.prepareStackTrace),
   * is in; `report` adds fields to the printed result, read once both errors are in.
   */
  async function abortErrors(filtered: boolean, before: string, after: string, report = ''): Promise<{ seen: { url: string; stack: string; formatted: number }[] } & Record<string, unknown>> {
    const filter = filtered ? `(await import(${JSON.stringify(`${ROOT}dist/diagnostics/app-stacks.js`)})).installAppStacks();` : '';
    const script = `
      import http from 'node:http';
      process.setSourceMapsEnabled(true);
      const formatted = [];
      ${before}
      const { SERVER_OPTIONS, destroyResponse } = await import(${JSON.stringify(`${ROOT}dist/server/node-http.js`)});
      ${filter}
      ${after}
      const seen = [];
      const server = http.createServer(SERVER_OPTIONS, (req, res) => {
        req.on('error', (e) => seen.push({ url: req.url, stack: e.stack, formatted: formatted.splice(0).filter((m) => m === 'aborted').length }));
        res.writeHead(200);
        if (req.url === '/server') destroyResponse(res);
        else res.destroy();
      });
      server.listen(0, '127.0.0.1', async () => {
        for (const path of ['/node', '/server']) await fetch('http://127.0.0.1:' + server.address().port + path).catch(() => null);
        const deadline = Date.now() + 20000;
        while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        console.log(JSON.stringify({ seen, ${report} }));
        server.close();
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    return JSON.parse(stdout) as { seen: { url: string; stack: string; formatted: number }[] } & Record<string, unknown>;
  }

  for (const filtered of [false, true]) {
    it(`${filtered ? "behind -d's frame filter: " : ''}is formatted without node's formatter (node's own text, no source-map lookups), as node:http makes it in abortIncoming and reads it in destroy`, async () => {
      // node's formatter is wrapped (to count its calls) before node-http.js takes it as node's.
      const { seen, kept, afterwards } = await abortErrors(
        filtered,
        'const node = Error.prepareStackTrace; Error.prepareStackTrace = function counted(e, t) { formatted.push(e.message); return node(e, t); };',
        'const before = Error.prepareStackTrace;',
        // The formatter in place is the one from before (under -d: the filter, in front of node's),
        // and a stack read afterwards goes to node's again.
        "kept: Error.prepareStackTrace === before, afterwards: (void new Error('afterwards').stack, formatted.includes('afterwards'))",
      );
      expect(seen.map((e) => [e.url, e.formatted])).toEqual([
        ['/node', 1],
        ['/server', 0],
      ]);
      expect(seen[1]!.stack).toBe(seen[0]!.stack);
      expect(seen[0]!.stack).toMatch(/^Error: aborted\n {4}at abortIncoming \(node:_http_server:\d+:\d+\)\n/);
      expect([kept, afterwards]).toEqual([true, true]);
    });
  }

  for (const filtered of [false, true]) {
    it(`${filtered ? "behind -d's frame filter: " : ''}goes through an app's own Error.prepareStackTrace (Sentry sets one), as when the app destroys the response itself`, async () => {
      // The app puts its own formatter in after tspuma loaded (under -d, behind the filter):
      // tspuma's shortcut is for node's formatter only, so both aborts get the app's text.
      const { seen } = await abortErrors(filtered, '', "Error.prepareStackTrace = function own(e, t) { formatted.push(e.message); return 'own ' + e.message + ' ' + t.length; };");
      expect(seen.map((e) => [e.url, e.formatted])).toEqual([
        ['/node', 1],
        ['/server', 1],
      ]);
      expect(seen[1]!.stack).toBe(seen[0]!.stack);
      expect(seen[0]!.stack).toMatch(/^own aborted \d+$/);
    });
  }
});
