// Integration: balanceConnections on `tspuma -w 2`. The workers share one accept queue, so
// keep-alive connections opened while one worker cannot accept (its loop held by a request) all
// land on the other and, without the option, stay there for their whole life; with it, the
// loaded worker closes its excess after their next responses and the clients reconnect.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, controlUrl, killAll, ROOT } from '../helpers/cli.js';
import { SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const APP = join(ROOT, 'test/fixtures/cluster-app.mjs');
const TOKEN = 'test-token-0123456789';
/** Keep-alive connections the client holds: one request on each a round. */
const CONNECTIONS = 8;
/** How long the first worker's loop is held while the connections open (Atomics.wait: no core burnt). */
const HOLD_MS = 2500 * SLOWNESS;

interface WorkerStatus {
  pid: number;
  last_status?: { in_flight?: { url: string }[] } | null;
}

async function cluster(balance: boolean) {
  const dir = tempDir('share');
  const config = join(dir, 'tspuma.config.mjs');
  // maxKeepAlive 0: no connection is closed for its request count, so only the option moves one.
  writeFileSync(config, `export default { workerCheckInterval: 0.5, maxKeepAlive: 0, balanceConnections: ${balance} };\n`);
  const s = await boot(['-C', config, '-w', '2', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, APP]);
  const control = await controlUrl(s);
  const workers = async () => ((await okJson(await fetch(`${control}/stats?token=${TOKEN}`), '/stats')) as { worker_status: WorkerStatus[] }).worker_status;
  await waitFor(async () => (await workers()).filter((w) => w.last_status).length === 2, 'both workers checked in', 20_000);
  return { ...s, workers };
}

/** One request on each of the agent's connections at once: how many each pid answered. */
async function round(agent: http.Agent, url: string): Promise<Map<number, number>> {
  const pids = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        new Promise<number>((resolve, reject) => {
          const req = http.get(url, { agent, timeout: 5000 * SLOWNESS }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => {
              const m = /^pid (\d+)\n$/.exec(body);
              if (m) resolve(Number(m[1]));
              else reject(new Error(`expected "pid N", got ${res.statusCode} ${JSON.stringify(body)}`));
            });
          });
          req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${5000 * SLOWNESS} ms`)));
          req.on('error', reject);
        }),
    ),
  );
  const counts = new Map<number, number>();
  for (const p of pids) counts.set(p, (counts.get(p) ?? 0) + 1);
  return counts;
}

const shown = (c: Map<number, number>) => [...c.values()].join('/');

describe('balanceConnections (-w 2)', () => {
  it(`${CONNECTIONS} keep-alive connections that all opened on one worker (the other's loop held) are spread over both, at least 3 on each, once the held worker is free`, async () => {
    const s = await cluster(process.env.SHARE_OFF !== "1");
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    try {
      // Hold one worker's loop: the one whose check-in shows /spin in the app.
      const held = fetch(`${s.url}/spin?for=${HOLD_MS}&nap=5`, { signal: AbortSignal.timeout(HOLD_MS + 20_000 * SLOWNESS) }).then((r) => r.text());
      const holder = await waitFor(async () => (await s.workers()).find((w) => w.last_status?.in_flight?.some((f) => f.url.startsWith('/spin')))?.pid, 'a worker running /spin', 10_000);
      const first = await round(agent, `${s.url}/`);
      // All opened on the other worker: the held one could not accept.
      expect(first.has(holder), `first round's answers by pid: ${JSON.stringify([...first])}, held ${holder}`).toBe(false);
      expect(shown(first)).toBe(String(CONNECTIONS));
      await held;
      const seen: string[] = [];
      const spread = await waitFor(
        async () => {
          const c = await round(agent, `${s.url}/`);
          seen.push(shown(c));
          return c.size === 2 && Math.min(...c.values()) >= 3 ? c : undefined;
        },
        `both workers answering at least 3 of the ${CONNECTIONS} connections`,
        15_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last rounds' splits: ${seen.slice(-10).join(' ')}`);
      });
      expect(spread.get(holder)).toBeGreaterThanOrEqual(3);
    } finally {
      agent.destroy();
    }
  });
});
