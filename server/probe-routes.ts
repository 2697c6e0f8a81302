// The control app's /probes routes (after its token check): list, set, read and remove probes
// as JSON, so `tspuma probe`, a tool or a CI job can drive them. Who asked is the `by` the client
// names plus the address it came from; the token is never logged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProbeRegistry } from './cluster/probe-registry.js';
import type { ProbeRequest } from './probe-spec.js';

/** Largest body a control app request may have (a probe request's JSON). */
export const MAX_BODY = 64 * 1024;
/** Bytes of an oversized body read and dropped after its 413, so the client reads the answer instead of a reset. */
const DRAIN_LIMIT = 1024 * 1024;

/** The control app's answer to a body over MAX_BODY: 413 with the sizes, then the rest drained (bounded) and the connection closed. */
export function bodyTooLarge(req: IncomingMessage, res: ServerResponse, size: string): string {
  res.setHeader('connection', 'close');
  let drained = 0;
  req.on('data', (chunk: Buffer | string) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) req.socket.destroy();
  });
  req.resume();
  return `a request body of ${size} is over the control app's limit of ${MAX_BODY} bytes`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The status a coded error maps to. */
function statusOf(code: string | undefined): number {
  if (code === 'TSPUMA_ERR_PROBE_NOT_FOUND') return 404;
  if (code === 'TSPUMA_ERR_PROBE_LIMIT') return 429;
  if (code?.startsWith('TSPUMA_ERR_PROBE_')) return 400;
  return 500;
}

function fail(res: ServerResponse, err: unknown): void {
  const e = err as { code?: string; message?: string; status?: number };
  json(res, e.status ?? statusOf(e.code), { error: e.message ?? String(err), code: e.code ?? null });
}

/** "alice@build-3 (tspuma probe) from 127.0.0.1": what the client says, then where it connected from. */
export function requester(req: IncomingMessage, claimed: unknown): string {
  const name = typeof claimed === 'string' && claimed.trim() !== '' ? claimed.trim().slice(0, 100).replace(/[^\x20-\x7e]/g, '?') : 'an unnamed client';
  const agent = (req.headers['user-agent'] ?? '').slice(0, 60).replace(/[^\x20-\x7e]/g, '?');
  const from = req.socket.remoteAddress ?? 'the control socket (unix)';
  return `${name}${agent && agent !== 'tspuma-cli' ? ` (${agent})` : ''} from ${from}`;
}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<string> {
  return new Promise((resolve, reject) => {
    let body: string | null = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (body === null) return;
      body += chunk;
      if (body.length > MAX_BODY) {
        body = null;
        reject(Object.assign(new Error(bodyTooLarge(req, res, `more than ${MAX_BODY} bytes (chunked)`)), { code: 'TSPUMA_ERR_CONTROL_REFUSED', status: 413 }));
      }
    });
    req.on('end', () => {
      if (body !== null) resolve(body);
    });
    req.on('error', reject);
  });
}

/** Answers with what `answer` gives once the workers' hit counts of now are in (ProbeRegistry.collect). */
function withCounts(res: ServerResponse, probes: ProbeRegistry, answer: () => unknown): void {
  probes.collect().then(
    () => {
      try {
        json(res, 200, answer());
      } catch (err) {
        fail(res, err);
      }
    },
    (err) => fail(res, err),
  );
}

/**
 * GET /probes; POST /probes (JSON ProbeRequest); GET /probes/ID; DELETE /probes/ID;
 * DELETE /probes?all=1. Other methods get 405. Lists and removals answer with the hits the
 * workers counted up to now, not up to their last report.
 */
export function probeRoutes(req: IncomingMessage, res: ServerResponse, url: URL, probes: ProbeRegistry): void {
  const rest = url.pathname.slice('/probes'.length);
  const by = () => requester(req, url.searchParams.get('by') ?? req.headers['x-tspuma-by']);
  try {
    if (rest === '' || rest === '/') {
      if (req.method === 'GET') return withCounts(res, probes, () => ({ probes: probes.list() }));
      if (req.method === 'DELETE') {
        if (url.searchParams.get('all') !== '1') return json(res, 400, { error: 'DELETE /probes removes every probe only with ?all=1', code: 'TSPUMA_ERR_PROBE_INVALID' });
        return withCounts(res, probes, () => ({ removed: probes.removeAll(by()) }));
      }
      if (req.method === 'POST') {
        readBody(req, res)
          .then((text) => {
            let body: ProbeRequest & { by?: unknown };
            try {
              body = JSON.parse(text) as typeof body;
            } catch (err) {
              throw Object.assign(new Error(`the request body is not JSON: ${(err as Error).message}`), { code: 'TSPUMA_ERR_PROBE_INVALID' });
            }
            if (body === null || typeof body !== 'object') throw Object.assign(new Error('the request body must be a JSON object'), { code: 'TSPUMA_ERR_PROBE_INVALID' });
            return probes.set(body, requester(req, body.by ?? req.headers['x-tspuma-by']));
          })
          .then(
            (view) => json(res, 201, view),
            (err) => fail(res, err),
          );
        return;
      }
      return json(res, 405, { error: `${req.method} /probes: use GET, POST or DELETE ?all=1` });
    }
    const id = /^\/(\d+)$/.exec(rest)?.[1];
    if (!id) return json(res, 404, { error: `unknown command ${url.pathname}` });
    if (req.method === 'GET') return withCounts(res, probes, () => probes.get(Number(id)));
    if (req.method === 'DELETE') return withCounts(res, probes, () => probes.remove(Number(id), by()));
    return json(res, 405, { error: `${req.method} /probes/${id}: use GET or DELETE` });
  } catch (err) {
    fail(res, err);
  }
}
