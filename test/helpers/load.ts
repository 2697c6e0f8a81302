// Load for integration tests, bounded in time (and count): autocannon, stopped as soon as the
// test has seen what it needed under load, and a keep-alive client loop that tallies every answer
// and error and keeps each body (who served it).
import http from 'node:http';
import type autocannon from 'autocannon';
import { SLOWNESS } from './net.js';

/**
 * Runs autocannon (at most `maxSeconds`, scaled by the load: a bound for a state that never comes,
 * not the load's length) until `until` settles, then stops it; its result. With `rate`, at most that
 * many requests a second in all (autocannon's overallRate): a steady load for a fraction of the CPU
 * of connections sending flat out. `timeoutS` is how long a request may wait for its answer before
 * autocannon counts it as an error: 10 s (autocannon's default) scaled by the load, or the test's
 * own figure, when its server holds requests for a while on purpose (a worker paused for a heap
 * snapshot).
 */
export async function loadUntil(url: string, connections: number, maxSeconds: number, until: () => Promise<unknown>, rate?: number, timeoutS?: number): Promise<autocannon.Result> {
  // Imported here, not at the top: autocannon and its hdr-histogram WebAssembly cost a fork about
  // 0.45 s of CPU to load (load 25), which a file that uses keepAliveLoop alone need not pay.
  const { default: start } = await import('autocannon');
  let load!: autocannon.Instance;
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    load = start({ url, connections, duration: maxSeconds * SLOWNESS, ...(rate === undefined ? {} : { overallRate: rate }), timeout: timeoutS ?? 10 * SLOWNESS }, (err: unknown, res) => (err ? reject(err as Error) : resolve(res)));
  });
  try {
    await until();
  } finally {
    load.stop();
  }
  return result;
}

export interface LoopTally {
  /** Answers by status code. */
  statuses: Map<number, number>;
  /** Requests that got no answer, by error code (ECONNRESET, ...). */
  errors: Map<string, number>;
  /** Every answer's body, in order of arrival (bodies are short: a pid, say). */
  bodies: string[];
  requests: number;
  /** How many of the requests were POSTs. */
  posts: number;
  /** Failed POSTs (an error, or a status that is not 2xx). */
  failedPosts: number;
}

/**
 * `connections` keep-alive clients, each sending GET requests one after the other to
 * http://127.0.0.1:PORT/, until `stop()` is called, `maxMs` (scaled by the load: a safety net, not
 * the load's length) passed or `maxRequests` were sent; `done` resolves with what they got. A
 * request with no answer within 5 s (scaled by the load) is counted as a TIMEOUT error.
 */
export function keepAliveLoop(
  port: number,
  connections: number,
  maxMs: number,
  maxRequests: number,
  /**
   * Host header (default 127.0.0.1:PORT), POST with a small body on every `postEvery`-th client
   * (0: none), and a pause of `pauseMs` after each answer (0: none, every client flat out): a
   * steady stream of requests with one in flight at every moment, for a fraction of the CPU.
   */
  opts: { host?: string; postEvery?: number; pauseMs?: number } = {},
): { tally: LoopTally; stop: () => void; done: Promise<LoopTally> } {
  const tally: LoopTally = { statuses: new Map(), errors: new Map(), bodies: [], requests: 0, posts: 0, failedPosts: 0 };
  const deadline = Date.now() + maxMs * SLOWNESS;
  const answerMs = 5000 * SLOWNESS;
  let stopped = false;
  const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);
  const one = (agent: http.Agent, post: boolean) =>
    new Promise<void>((resolve) => {
      const headers = { ...(opts.host ? { host: opts.host } : {}), ...(post ? { 'content-type': 'text/plain', 'content-length': '5' } : {}) };
      const req = http.request({ host: '127.0.0.1', port, path: '/', method: post ? 'POST' : 'GET', agent, timeout: answerMs, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          bump(tally.statuses, res.statusCode ?? 0);
          if (post && (res.statusCode! < 200 || res.statusCode! > 299)) tally.failedPosts++;
          tally.bodies.push(body);
          resolve();
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          bump(tally.errors, err.code ?? err.message);
          if (post) tally.failedPosts++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${answerMs} ms`), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        bump(tally.errors, err.code ?? err.message);
        if (post) tally.failedPosts++;
        resolve();
      });
      req.end(post ? 'hello' : undefined);
    });
  const client = async (_: unknown, i: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = !!opts.postEvery && i % opts.postEvery === 0;
    while (!stopped && Date.now() < deadline && tally.requests < maxRequests) {
      tally.requests++;
      if (post) tally.posts++;
      await one(agent, post);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
    agent.destroy();
  };
  const done = Promise.all(Array.from({ length: connections }, client)).then(() => tally);
  return { tally, stop: () => (stopped = true), done };
}
