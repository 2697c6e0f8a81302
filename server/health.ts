// Health and readiness checks on their own socket (the `healthUrl` option), answered by tspuma
// outside the app and its invocation slots, without a token: /health while the process runs,
// /ready once booted and until draining starts.
import type { Logger } from 'pino';
import { parseBind } from './binder-uri.js';
import { listen, type BoundServer } from './binder.js';
import { SIDE_LIMITS, createSideServer } from './side-listener.js';

/** Where the server is in its life, as /ready reports it. */
export type Readiness = 'booting' | 'ready' | 'draining';

export interface HealthState {
  readiness(): Readiness;
}

/** The answer to one health request: status and JSON body. */
export function healthAnswer(method: string | undefined, path: string, state: HealthState): { status: number; body: Record<string, unknown>; allow?: string } {
  if (path !== '/health' && path !== '/ready') return { status: 404, body: { error: 'not found: GET /health or /ready' } };
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { error: 'only GET and HEAD' }, allow: 'GET, HEAD' };
  if (path === '/health') return { status: 200, body: { status: 'alive', pid: process.pid } };
  const readiness = state.readiness();
  return { status: readiness === 'ready' ? 200 : 503, body: { status: readiness } };
}

/** Listens on `uri` and answers health checks; the server is closed by the caller at exit. */
export async function startHealth(uri: string, state: HealthState, log: Logger): Promise<BoundServer> {
  const spec = parseBind(uri, 'healthUrl option');
  // tspuma's header deadline, an idle timeout and a connection cap: a client holding idle
  // connections here cannot take the descriptors the primary needs to fork workers.
  const server = createSideServer('health checks', SIDE_LIMITS.health, log, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = healthAnswer(req.method, path, state);
    const body = `${JSON.stringify(answer.body)}\n`;
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...(answer.allow ? { allow: answer.allow } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const bound = await listen(spec, server, log);
  log.info({ healthUrl: bound.url }, `* Health checks on ${bound.url} (GET /health, /ready)`);
  return bound;
}
