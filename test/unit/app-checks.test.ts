// The app's ready()/health()/shutdown() exports in process: found on the module or its default
// object, a non-function refused with its name, checks passing and failing with their reasons,
// and a shutdown() that outlasts its bound left behind with a warning.
import { describe, expect, it } from 'vitest';
import { appHooks, runCheck, runShutdownHook, workersReason } from '../../server/app-checks.js';
import { captureLogger } from '../helpers/server.js';

describe('appHooks', () => {
  it("takes named exports first, then the default-exported object's functions", () => {
    const ready = () => true;
    const shutdown = () => undefined;
    expect(appHooks({ ready }, { fetch: () => null, shutdown }, 'app.ts')).toEqual({ ready, shutdown });
  });
  it('refuses a ready that is not a function with TSPUMA_ERR_APP_HANDLER naming it', () => {
    expect(() => appHooks({ ready: true }, {}, 'app.ts')).toThrow(expect.objectContaining({ code: 'TSPUMA_ERR_APP_HANDLER', message: expect.stringContaining('ready') }));
  });
});

describe('runCheck', () => {
  it('passes on true or nothing, fails on false, a throw or a rejection, with the reason', async () => {
    expect(await runCheck('ready', () => undefined, 1000)).toEqual({ ok: true });
    expect(await runCheck('ready', async () => true, 1000)).toEqual({ ok: true });
    expect(await runCheck('ready', () => false, 1000)).toEqual({ ok: false, reason: "the app's ready() returned false" });
    expect(await runCheck('health', () => { throw new Error('db down'); }, 1000)).toEqual({ ok: false, reason: "the app's health() failed: db down" });
    expect(await runCheck('health', () => Promise.reject(new Error('no redis')), 1000)).toEqual({ ok: false, reason: "the app's health() failed: no redis" });
  });
  it("redacts secrets in a failing check's message before /health or /ready can show it", async () => {
    const failing = () => {
      throw new Error('cannot reach postgres://app:S3cretDbPass@db.internal:5432/shop?sslmode=require&token=tok_9f8e7d6c5b4a (Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl)');
    };
    const result = await runCheck('health', failing, 1000);
    expect(result.ok).toBe(false);
    expect(result.reason).toContain("the app's health() failed: cannot reach postgres://app:[redacted]@db.internal:5432/shop");
    expect(result.reason).not.toContain('S3cretDbPass');
    expect(result.reason).not.toContain('tok_9f8e7d6c5b4a');
    expect(result.reason).not.toContain('eyJhbGciOiJIUzI1NiJ9');
  });

  it('fails a check that does not settle within the timeout', async () => {
    expect(await runCheck('ready', () => new Promise(() => {}), 50)).toEqual({ ok: false, reason: "the app's ready() did not settle within 0.05 s (healthCheckTimeout)" });
  });
});

describe('runShutdownHook', () => {
  it('waits for shutdown(), logs its failure, and goes on with a warning when it outlasts the bound', async () => {
    const { logger, lines } = captureLogger();
    let done = false;
    await runShutdownHook({ shutdown: async () => void (done = true) }, 1000, logger);
    expect(done).toBe(true);
    await runShutdownHook({ shutdown: () => { throw new Error('pool busy'); } }, 1000, logger);
    await runShutdownHook({ shutdown: () => new Promise(() => {}) }, 50, logger);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, "The app's shutdown() failed: pool busy"],
      [40, "The app's shutdown() did not finish within 0.05 s (shutdownHookTimeout); stopping without it"],
    ]);
  });
});

describe("a cluster's /health reason", () => {
  it('gives each distinct reason once, with the workers that gave it', () => {

    const down = "the app's health() failed: db down";
    expect(workersReason([{ index: 1, reason: down }, { index: 0, reason: down }])).toBe(`workers 0, 1: ${down}`);
    expect(workersReason([{ index: 0, reason: down }, { index: 1, reason: 'timeout' }])).toBe(`worker 0: ${down}; worker 1: timeout`);
  });
});
