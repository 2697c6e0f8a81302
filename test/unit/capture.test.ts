// The Capturer alone, in a file of its own: no other inspector session in this process pauses
// on exceptions, so pause counts are exact. Capture failures resume; the rate limit trips.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { ROOT } from '../helpers/cli.js';
import { command } from '../helpers/command.js';
import { SLOWNESS } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

/** Six throw sites in six functions: a site that repeats is muted (site-mutes.ts), so it takes distinct sites to reach the global rate. */
function sixSites(): (() => never)[] {
  return [
    () => { throw new Error('site 1'); },
    () => { throw new Error('site 2'); },
    () => { throw new Error('site 3'); },
    () => { throw new Error('site 4'); },
    () => { throw new Error('site 5'); },
    () => { throw new Error('site 6'); },
  ];
}

/**
 * Runs `body` in a node process of its own on the built dist/ (vitest's module runner resolves the
 * sources' imports itself), with a Capturer started and `name` imported from `module`: what the
 * body put on `out`, with the Capturer's pauses and captures.
 */
async function underCapture(name: string, module: string, body: string[]): Promise<Record<string, unknown>> {
  const url = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
  const script = [
    `const { Capturer } = await import(${url('dist/diagnostics/capture.js')});`,
    `const { Redactor } = await import(${url('dist/diagnostics/redact.js')});`,
    `const { ${name} } = await import(${url(module)});`,
    'const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);',
    'c.start();',
    'const out = {};',
    ...body,
    'console.log(JSON.stringify({ ...out, pauses: c.stats.pauses, captures: c.stats.captures }));',
    'c.stop();',
  ].join('\n');
  const r = await command(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeoutMs: 60_000 * SLOWNESS });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('Capturer', () => {
  it('resumes and reports when capture itself fails, and the throw still propagates', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const failures: unknown[] = [];
    const broken = { isSecretName: () => { throw new Error('redactor broke'); }, isSecretHeader: () => false, isSecretValue: () => false } as unknown as Redactor;
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 20 }, broken, (err) => failures.push(err));
    c.start();
    try {
      const userId = 7;
      expect(() => c.scope('hook', () => { throw new Error(`boom ${userId}`); })).toThrow('boom 7');
      expect(c.stats.failures).toBe(1);
      expect((failures[0] as Error).message).toBe('redactor broke');
      expect(c.scope('hook', () => 'still running')).toBe('still running');
    } finally {
      c.stop();
    }
  });

  it("never pauses in tspuma's own scans and lookups (a port-holder scan of a held port, a missing state file, an absent @opentelemetry/api), and pauses at the app's next throw", async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const { findPortHolder } = await import('../../server/port-holder.js');
    const { checkTarget } = await import('../../server/private-file.js');
    const { loadOtelApi } = await import('../../server/otel.js');
    const { createServer } = await import('node:net');
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    c.start();
    try {
      expect(findPortHolder(port, 5000)).toMatchObject({ pid: process.pid });
      checkTarget(`/nonexistent-${process.pid}/state.json`, { what: 'state file (-S)' });
      await loadOtelApi(`/nonexistent-${process.pid}`);
      expect(c.stats.pauses).toBe(0);
      expect(c.stats.throttled).toBe(0);
      // Pausing is back on: the app's own throw right after is paused at and captured.
      const orderId = 'ord-1';
      const err = new Error(`no order ${orderId}`);
      try {
        throw err;
      } catch {
        /* caught by the app */
      }
      expect(c.stats.pauses).toBe(1);
      expect(c.captureFor(err)?.frames[0]?.locals).toMatchObject({ orderId: 'ord-1' });
    } finally {
      c.stop();
      server.close();
    }
  });

  it("never pauses where the built server imports tspuma's own copy of @opentelemetry/api (this checkout's devDependency; the app's folder has none): node's resolver throws and catches at a bare specifier, so it is imported by its file URL (tests18.1)", async () => {
    // On the built dist/, as it ships: vitest's module runner resolves the sources' imports itself.
    const seen = await underCapture('loadOtelApi', 'dist/server/otel.js', ['const api = await loadOtelApi(`/nonexistent-${process.pid}`);', 'out.loaded = typeof api?.trace?.getActiveSpan;']);
    expect(seen).toEqual({ loaded: 'function', pauses: 0, captures: 0 });
  });

  it("never pauses where a server whose app exports `websocket` loads ws at bind: neither node's ESM resolver (a bare `import('ws')` throws and catches 'Invalid URL' twice) nor ws's own optional require of bufferutil (review12.5, review12.8)", async () => {
    // On the built dist/, as it ships, from this checkout (ws is a dependency; bufferutil is not installed).
    const seen = await underCapture('Upgrades', 'dist/server/upgrade.js', ['const u = new Upgrades(null, { websocket: {} }, null, () => undefined, null);', 'await u.init();', 'out.server = u.wss?.constructor?.name;']);
    expect(seen).toEqual({ server: 'WebSocketServer', pauses: 0, captures: 0 });
  });

  it("never pauses where a chunk of the build runs with no code cache and its process cannot write one (none yet, node_modules/.cache not a folder): chunk-run's lookups and its write at flush throw and catch (review13.7: 37 pauses at each -d boot of a root-owned install run as nobody)", async () => {
    // code-cache.ts looks debug mode's ownCode up by its key itself (it imports none of tspuma's modules).
    expect((await import('../../server/code-cache.js')).kOwnCodeHere).toBe((await import('../../server/shared-names.js')).kOwnCode);
    const { splitChunk } = (await import(pathToFileURL(join(ROOT, 'scripts/chunk-cache.mjs')).href)) as { splitChunk: (text: string, file: string, runtime: string) => { shell: string; code: string; codeName: string } };
    const dir = tempDir('chunk-pauses');
    try {
      mkdirSync(join(dir, 'node_modules'));
      writeFileSync(join(dir, 'node_modules', '.cache'), 'not a folder');
      // An ES-module package, as dist/ is (else node's format detection throws and catches first).
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
      const banner = 'import { createRequire as __tspumaCreateRequire } from "node:module"; const __tspumaBuiltin = __tspumaCreateRequire(import.meta.url);';
      const split = splitChunk(`${banner}\nvar $1 = () => 1;\nexport {\n  $1\n};\n`, 'x.chunk.js', pathToFileURL(join(ROOT, 'dist/server/chunk-run.js')).href);
      writeFileSync(join(dir, 'x.chunk.js'), split.shell);
      writeFileSync(join(dir, split.codeName), split.code);
      const seen = await underCapture('writeChunkCaches', 'dist/server/chunk-run.js', [
        `const { $1 } = await import(${JSON.stringify(pathToFileURL(join(dir, 'x.chunk.js')).href)});`,
        'out.value = $1();',
        // The flush: the caches this process lacked, written at its exit.
        'writeChunkCaches();',
      ]);
      expect(seen).toEqual({ value: 1, pauses: 0, captures: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never pauses where a log line's URL has an escape decodeURIComponent refuses (a malformed %, bytes that are not UTF-8): each such request paused a -d process with --log-requests once (review13.8), and the line is redacted as before", async () => {
    const urls = ['/x?q=100%', '/x?q=%E0%A4%A', '/x?q=%C0%80&token=abc', '/x?password=hunter%202&q=%ZZ', '/x?q=%E2%82%AC&api_key=k%20v'];
    const seen = await underCapture('urlRedactor', 'dist/diagnostics/redact.js', ['const q = urlRedactor(null);', `out.lines = ${JSON.stringify(urls)}.map((u) => q(u));`]);
    expect(seen).toEqual({ lines: ['/x?q=100%', '/x?q=%E0%A4%A', '/x?q=%C0%80&token=[redacted]', '/x?password=[redacted]&q=%ZZ', '/x?q=%E2%82%AC&api_key=[redacted]'], pauses: 0, captures: 0 });
  });

  it("never pauses where the TypeScript loader finds its compile cache folder not writable (a root-owned install run as nobody: the one pause left at each such -d boot, review13.10)", async () => {
    const dir = tempDir('ts-cache');
    try {
      // Below a plain file: access(R|W|X) refuses it even to root (no execute bit), as a folder of another user's refuses nobody.
      writeFileSync(join(dir, 'not-a-folder'), '');
      const seen = await underCapture('cacheUnusable', 'dist/server/ts-loader.js', [`out.unusable = cacheUnusable(${JSON.stringify(join(dir, 'not-a-folder', '.cache', 'tspuma'))}) !== null;`]);
      expect(seen).toEqual({ unusable: true, pauses: 0, captures: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts its pause rescuer only once the process can be attached from outside (an inspector opened), not at start; a capture started after that starts it at once', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const { attachable, kAttachable } = await import('../../server/shared-names.js');
    const g = globalThis as Record<symbol, unknown>;
    const before = g[kAttachable];
    delete g[kAttachable];
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    c.start();
    try {
      // No inspector open here (a -d process with --inspect=off): no rescuer thread.
      expect(c.rescuing).toBe(false);
      try {
        throw new Error('a capture pause with nothing that can hold it');
      } catch {
        /* caught */
      }
      expect(c.stats.pauses).toBe(1);
      expect(c.rescuing).toBe(false);
      attachable(); // what inspector/open.ts and inspector/setup.ts say when they open one
      expect(c.rescuing).toBe(true);
    } finally {
      c.stop();
    }
    const later = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    later.start();
    try {
      expect(later.rescuing).toBe(true);
    } finally {
      later.stop();
      if (before === undefined) delete g[kAttachable];
      else g[kAttachable] = before;
    }
  });

  it('re-posts its pause-on-exceptions state on a timer only once the process has an inspector port of its own; none while it has none, nor when discovery alone makes it attachable', async () => {
    const inspector = await import('node:inspector');
    const { Capturer, REASSERT_MS } = await import('../../diagnostics/capture.js');
    const { attachable, kAttachable } = await import('../../server/shared-names.js');
    const g = globalThis as Record<symbol, unknown>;
    const before = g[kAttachable];
    delete g[kAttachable];
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const post = vi.spyOn(inspector.Session.prototype, 'post');
    const states = (): number => post.mock.calls.filter((call) => (call[0] as string) === 'Debugger.setPauseOnExceptions').length;
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    c.start();
    try {
      expect(c.pausingNow).toBe(true);
      const atStart = states();
      vi.advanceTimersByTime(4 * REASSERT_MS);
      expect(states()).toBe(atStart);
      attachable(); // discovery's bridge started (inspector/setup.ts): its clients cannot set the state
      vi.advanceTimersByTime(4 * REASSERT_MS);
      expect(states()).toBe(atStart);
      inspector.open(0, '127.0.0.1'); // a port of its own (inspector/open.ts: a worker's direct port)
      attachable();
      vi.advanceTimersByTime(4 * REASSERT_MS);
      expect(states()).toBe(atStart + 4);
    } finally {
      inspector.close();
      c.stop();
      post.mockRestore();
      vi.useRealTimers();
      if (before === undefined) delete g[kAttachable];
      else g[kAttachable] = before;
    }
  });

  it('switches pausing off for a backoff when throws exceed the global rate', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    // A clock that stands still: the 200 throws fall in one rate window however slow the machine
    // (on the wall clock, a loaded host spread them over two windows and the limiter never tripped).
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 5 }, new Redactor(), () => undefined, { now: () => 1_000 });
    c.start();
    try {
      // Six sites in six functions, each thrown at in turn: a site that repeats is muted
      // (site-mutes.ts), so it takes distinct sites to reach the rate.
      const sites = sixSites();
      c.scope('app', () => {
        for (let i = 0; i < 200; i++) {
          try {
            sites[i % sites.length]!();
          } catch {
            /* library-style caught throw */
          }
        }
      });
      expect(c.stats.trips).toBe(1);
      expect(c.stats.pauses).toBe(6); // 5 allowed, the 6th trips the limiter; the other 194 cost nothing
      // Every handled pause is timed, and the exit line reports it.
      expect(c.pauseTimes.n).toBe(6);
      expect(c.pauseTimes.quantile(0.5)).toBeGreaterThan(0);
      expect(c.costLine()).toMatch(/^tspuma: debug capture cost: 6 pause\(s\) at throws: p50 [\d.]+ ms, p99 [\d.]+ ms; 5 built a capture: .*; 0 repeat\(s\) and 1 throttled/);
    } finally {
      c.stop();
    }
  });

  it("forgets a trip of the boot's throws once the process serves: the first request's throw, within the backoff, is captured with its locals", async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    // The clock stands still, inside the backoff the boot's trip starts (1 s from now).
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 3 }, new Redactor(), () => undefined, { now: () => 1_000 });
    c.start();
    try {
      // Module loading: a package's caught probes under the app's require, one site each.
      const probes = [
        () => { throw new Error('probe 1'); },
        () => { throw new Error('probe 2'); },
        () => { throw new Error('probe 3'); },
        () => { throw new Error('probe 4'); },
      ];
      for (const probe of probes) {
        try {
          probe();
        } catch {
          /* the package's own fallback */
        }
      }
      expect(c.stats.trips).toBe(1);
      c.serving();
      let failed: unknown;
      c.scope('app', () => {
        const orderId = 'ord-7';
        try {
          throw new Error(`order ${orderId} failed`);
        } catch (err) {
          failed = err;
        }
      });
      expect(c.captureFor(failed)?.frames[0]?.locals).toMatchObject({ orderId: 'ord-7' });
    } finally {
      c.stop();
    }
  });

  it("takes V8's break at the heap limit (reason OOM, which V8 makes instead of ending the process while this session is enabled) for the heap's, not for a debugger's pause (review9.2)", async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const { forgetOwnWork, ownWorkBetween } = await import('../../server/own-work.js');
    const { performance } = await import('node:perf_hooks');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    c.start();
    forgetOwnWork();
    try {
      const from = performance.now();
      // What node:inspector delivers for such a break, then its end (a real one needs a full heap).
      const session = (c as unknown as { session: import('node:events').EventEmitter }).session;
      session.emit('Debugger.paused', { method: 'Debugger.paused', params: { reason: 'OOM', callFrames: [] } });
      session.emit('Debugger.resumed', { method: 'Debugger.resumed' });
      expect(ownWorkBetween(from, performance.now())).toMatchObject({ debugger: false, heap: true });
      // A pause someone else asked for (a breakpoint) is still a debugger's.
      session.emit('Debugger.paused', { method: 'Debugger.paused', params: { reason: 'other', callFrames: [] } });
      session.emit('Debugger.resumed', { method: 'Debugger.resumed' });
      expect(ownWorkBetween(from, performance.now())).toMatchObject({ debugger: true });
    } finally {
      forgetOwnWork();
      c.stop();
    }
  });

  it('captures the locals of a function V8 has optimized (a helper called 200,000 times), not undefined for those its optimized code no longer needs (review9.12)', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(), () => undefined);
    c.start();
    // Serving, as a server is once it listens: V8 keeps optimized code's locals from here on.
    c.serving();
    try {
      // Compiled after serving(), as a request's helper is: defined here, first called below.
      const price = (sku: string, qty: number): number => {
        const unit = sku.length * 3;
        const total = unit * qty;
        if (total > 1000) throw new RangeError(`total ${total} over the limit`);
        return total;
      };
      let sum = 0;
      for (let i = 0; i < 200_000; i++) sum += price('abc', i % 10);
      expect(sum).toBe(8_100_000);
      let failed: unknown;
      c.scope('app', () => {
        try {
          price('abcdefgh', 500);
        } catch (err) {
          failed = err;
        }
      });
      expect(c.captureFor(failed)?.frames[0]?.locals).toMatchObject({ sku: 'abcdefgh', qty: 500, unit: 24, total: 12000 });
    } finally {
      c.stop();
    }
  });

  it('captures a throw between app calls (a timer, a fire-and-forget promise) with its values, attributed to the call that started it', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const { Attribution } = await import('../../diagnostics/attribution.js');
    const attribution = new Attribution();
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 50 }, new Redactor(), () => undefined, {
      context: () => attribution.current(),
      noteThrown: (record, thrown) => attribution.noteThrown(record, thrown),
    });
    c.start();
    try {
      const req = { method: 'POST', url: '/signup' } as never;
      const rejected = new Promise<unknown>((resolve) => {
        const before = attribution.enter(req, null);
        try {
          setTimeout(() => {
            void (async () => {
              const userId = 'u-17';
              await new Promise((r) => setImmediate(r));
              throw new Error(`welcome mail for ${userId} bounced`);
            })().catch(resolve);
          }, 1);
        } finally {
          attribution.leave(before);
        }
      });
      const err = await rejected;
      const capture = c.captureFor(err)!;
      expect(capture.frames[0]!.locals.userId).toBe('u-17');
      expect(capture.request).toBe(req);
      expect(attribution.of(req)!.thrown.map((t) => t.value)).toEqual([err]);
    } finally {
      c.stop();
      attribution.close();
    }
  });

  it('keeps the first throw of an error: a re-throw and a re-emit only count', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 50 }, new Redactor(), () => undefined);
    c.start();
    try {
      let caught: unknown;
      function parseRow(row: string): never {
        const column = 3;
        throw new SyntaxError(`bad column ${column} in ${row}`);
      }
      function importRows(): void {
        try {
          parseRow('a;b');
        } catch (err) {
          const retried = true;
          void retried;
          throw err; // catch-and-rethrow elsewhere
        }
      }
      try {
        importRows();
      } catch (err) {
        caught = err;
      }
      const capture = c.captureFor(caught)!;
      expect(capture.frames[0]).toMatchObject({ function: 'parseRow', locals: { column: 3, row: 'a;b' } });
      expect(c.stats.captures).toBe(1);
      expect(c.stats.rethrows).toBe(1);
    } finally {
      c.stop();
    }
  });

  it('matches a primitive rejection to the capture taken when it was rejected', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 8, perSiteMs: 60_000, globalPerSecond: 50 }, new Redactor(), () => undefined);
    c.start();
    try {
      const reason = await new Promise((_, reject) => {
        const waitedMs = 250;
        void waitedMs;
        reject('upstream timeout');
      }).catch((r: unknown) => r);
      expect(reason).toBe('upstream timeout');
      const capture = c.captureFor('upstream timeout')!;
      expect(capture.reason).toBe('promiseRejection');
      expect(capture.frames[0]!.locals.waitedMs).toBe(250);
      expect(c.captureFor('another string')).toBeUndefined();
    } finally {
      c.stop();
    }
  });

  it("shows no receiver for an async arrow, whose frame V8 gives its caller's (a Hono handler called from its route array), and still a method's own", async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 50 }, new Redactor(), () => undefined);
    c.start();
    try {
      const handler = async (orderId: number): Promise<never> => {
        throw new Error(`order ${orderId} failed`);
      };
      const route = [handler, { path: '/orders' }] as const;
      const arrowErr = await route[0](7).catch((e: unknown) => e);
      class Cart {
        readonly owner = 'ann';
        async checkout(items: number): Promise<never> {
          throw new Error(`cart of ${items}`);
        }
      }
      const methodErr = await new Cart().checkout(3).catch((e: unknown) => e);
      const arrow = c.captureFor(arrowErr)!.frames[0]!;
      const method = c.captureFor(methodErr)!.frames[0]!;
      expect({ function: arrow.function, receiver: arrow.receiver, fields: arrow.receiverFields, orderId: arrow.locals.orderId }).toEqual({ function: 'handler', receiver: 'undefined', fields: undefined, orderId: 7 });
      expect({ function: method.function, fields: method.receiverFields }).toEqual({ function: 'Cart.checkout', fields: { owner: 'ann' } });
    } finally {
      c.stop();
    }
  });

  it('keeps quantiles over the last durations only', async () => {
    const { Timings } = await import('../../diagnostics/capture.js');
    const t = new Timings(4);
    expect(t.quantile(0.5)).toBeNull();
    for (const ms of [100, 100, 100, 100, 1, 2, 3, 4]) t.add(ms);
    expect([t.n, t.quantile(0), t.quantile(0.5), t.quantile(0.99)]).toEqual([8, 1, 3, 4]);
  });

  it('turns pausing back on when a backoff\'s timer fires a moment early by the budget\'s clock (review10.7: it stayed off for good)', async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    let clock = 1_000;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 5 }, new Redactor(), () => undefined, { now: () => clock });
    c.start();
    try {
      const sites = sixSites();
      c.scope('app', () => {
        for (let i = 0; i < 12; i++) {
          try {
            sites[i % sites.length]!();
          } catch {
            /* caught */
          }
        }
      });
      expect(c.stats.trips).toBe(1);
      expect(c.pausingNow).toBe(false);
      // The backoff (1 s) ends at 2000; the timer fires when the budget's clock reads half a
      // millisecond short of it (libuv counts whole milliseconds; performance.now does not).
      clock = 1_999.5;
      vi.advanceTimersByTime(1_000);
      clock = 2_005;
      vi.advanceTimersByTime(10);
      expect(c.pausingNow).toBe(true);
    } finally {
      c.stop();
      vi.useRealTimers();
    }
  });
});
