// The control app's restarts: with ?wait=1 (`tspuma ctl phased-restart --wait`) a restart that
// rejects is answered 500 with its TSPUMA_ERR_ code beside its message, so ctl's output and a
// script can tell a rollback from a stop that cut the restart short; with or without it the
// rejection is the primary's to log too (Primary.restartFailed).
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { BoundServer } from '../../server/binder.js';
import { parseBind } from '../../server/binder-uri.js';
import { startControl, type ClusterCommands, type Controlled } from '../../server/control.js';
import { TspumaError } from '../../server/errors.js';
import { captureLogger } from '../helpers/server.js';

const TOKEN = 'control-restarts-token-0123456789';
const open: BoundServer[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.server.close();
});

function request(port: number, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
    req.on('error', reject);
  });
}

/** A control app over a cluster whose restarts reject with `err`; `failed` collects what restartFailed was given. */
async function control(err: Error) {
  const failed: Array<[string, Error]> = [];
  const cluster = {
    restartRunning: false,
    phase: 3,
    workerCount: 2,
    phasedRestart: () => Promise.reject(err),
    hotRestart: () => Promise.reject(err),
    restartFailed: (what: string, e: Error) => void failed.push([what, e]),
    workerCountUp: () => 2,
    workerBooted: () => Promise.reject(err),
  } as unknown as ClusterCommands;
  const target = { stats: () => ({}), cluster } as unknown as Controlled;
  const cap = captureLogger();
  const bound = await startControl(parseBind('tcp://127.0.0.1:0', 'test'), TOKEN, target, cap.logger, () => {});
  open.push(bound);
  return { port: bound.port!, failed };
}

describe('control app restarts', () => {
  const cases = [
    new TspumaError('TSPUMA_ERR_RESTART_STOPPING', { restart: 'Phased restart', when: 'before worker 1 was replaced; no worker was forked for it' }),
    new TspumaError('TSPUMA_ERR_RESTART_BOOT', { index: 0, phase: 4, reason: 'exit code 1', kept: 3 }),
  ];
  for (const err of cases) {
    it(`answers ?wait=1 with 500 and the code of a restart that rejected (${err.code}), and hands the rejection to the primary to log as well`, async () => {
      const c = await control(err);
      for (const command of ['phased-restart', 'restart']) {
        expect(await request(c.port, `/${command}?wait=1&token=${TOKEN}`)).toEqual({ status: 500, body: { error: err.message, code: err.code } });
      }
      // The server's log says it too (review8.3): a deploy that ran `ctl phased-restart --wait`
      // left no line there that its restart was rolled back or cut short.
      expect(c.failed).toEqual([['phased restart', err], ['hot restart', err]]);
    });
  }

  it('redacts the secrets a failed boot quotes in what ?wait=1 answers (review11.1: the app\'s own error, a database URL with its password)', async () => {
    // The new worker's error reaches the answer as its message: the server's log redacts it, and
    // so must `tspuma ctl phased-restart --wait`'s output, which a deploy's CI log keeps.
    const reason = 'Loading app /srv/app.ts failed: Error: cannot connect to postgres://admin:DBPASSWORD99@db/x';
    const err = new TspumaError('TSPUMA_ERR_RESTART_BOOT', { index: 0, phase: 4, reason, kept: 3 });
    const c = await control(err);
    for (const command of ['phased-restart', 'restart', 'worker-count-up']) {
      const answer = await request(c.port, `/${command}?wait=1&token=${TOKEN}`);
      expect(answer.status).toBe(500);
      expect(JSON.stringify(answer.body)).not.toContain('DBPASSWORD99');
      expect((answer.body as { error: string }).error).toContain('postgres://admin:[redacted]@db/x');
    }
  });

  it('answers without ?wait 202 and hands the rejection to the primary to log', async () => {
    const err = cases[0]!;
    const c = await control(err);
    expect(await request(c.port, `/phased-restart?token=${TOKEN}`)).toEqual({ status: 202, body: { message: 'started' } });
    const deadline = Date.now() + 5000;
    while (c.failed.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(c.failed).toEqual([['phased restart', err]]);
  });
});
