// The cluster's control app: a token-guarded HTTP app that hands stats and commands (stop,
// restarts, worker counts, live stacks) to the Primary.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import { listen, type BoundServer } from './binder.js';
import type { BindSpec } from './binder-uri.js';
import type { Primary } from './cluster/primary.js';
import type { TspumaError } from './errors.js';

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

function tokenOk(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Starts the control app; every request needs ?token=TOKEN or Authorization: Bearer TOKEN.
 * `stop` is the stop sequence signals get (drainDelay, sd_notify's STOPPING=1); by default the
 * primary's graceful stop.
 */
export async function startControl(spec: BindSpec, token: string, primary: Primary, log: Logger, stop: () => void = () => void primary.stop()): Promise<BoundServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
    if (!tokenOk(url.searchParams.get('token') ?? bearer, token)) return json(res, 403, { error: 'a valid token is required (?token= or Authorization: Bearer)' });
    const wait = url.searchParams.get('wait') === '1' || url.searchParams.get('wait') === 'true';
    const restart = (run: () => Promise<void>) => {
      const p = run();
      if (!wait) {
        p.catch((err: Error) => log.error({ err }, `restart failed: ${err.message}`));
        return json(res, 202, { message: 'started' });
      }
      p.then(
        () => json(res, 200, { message: 'done', phase: primary.phase }),
        (err: Error) => json(res, 500, { error: err.message }),
      );
    };
    switch (url.pathname) {
      case '/stats':
        return json(res, 200, primary.stats());
      case '/stop':
        json(res, 200, { message: 'stopping' });
        return stop();
      case '/halt':
        json(res, 200, { message: 'halting' });
        return primary.halt();
      case '/restart':
        return restart(() => primary.hotRestart());
      case '/phased-restart':
        return restart(() => primary.phasedRestart());
      case '/worker-count-up':
        primary.workerCountUp();
        return json(res, 200, { workers: primary.workerCount });
      case '/worker-count-down':
        primary.workerCountDown();
        return json(res, 200, { workers: primary.workerCount });
      case '/stack': {
        const worker = Number(url.searchParams.get('worker') ?? '0');
        if (!Number.isInteger(worker) || worker < 0) return json(res, 400, { error: `worker must be a worker index; got ${JSON.stringify(url.searchParams.get('worker'))}` });
        primary.stackOf(worker).then(
          (dump) => json(res, 200, dump),
          (err: TspumaError | Error) => json(res, 'code' in err && err.code === 'TSPUMA_ERR_INSPECT_TARGET' ? 404 : 504, { error: err.message, code: 'code' in err ? err.code : null }),
        );
        return;
      }
      case '/gc':
        for (const h of primary.current.values()) h.send({ tspuma: 1, type: 'gc' });
        return json(res, 200, { message: 'gc requested (workers need --expose-gc)' });
      default:
        return json(res, 404, { error: `unknown command ${url.pathname}` });
    }
  });
  return listen(spec, server, log, primary.diagnostics);
}
