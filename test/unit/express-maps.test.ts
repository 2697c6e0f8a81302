// In-process, on 127.0.0.1:0: an Express app's req and res keep one V8 map from request to request
// on tspuma (adapters.ts's expressSeed gives them the fields Express adds after re-prototyping
// them). Isolated (vitest.config.ts): it turns on --allow-natives-syntax, a process-wide V8 flag,
// and compares maps, which other files' objects in a shared process (their own fields added to
// node's and Express's objects) can branch; in a shared fork it once read res false at a full run.
import http from 'node:http';
import v8 from 'node:v8';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { startTest, stopAll } from '../helpers/server.js';

afterEach(stopAll);

describe('Express request and response maps', () => {
  it('gives two requests routed at once the same map for req and for res (Express re-prototypes them, then adds fields)', async () => {
    // V8's own answer: %HaveSameMap, compiled once the flag is on (it is only read at parse time).
    v8.setFlagsFromString('--allow-natives-syntax');
    const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const app = express();
    const router = express.Router();
    const held: { req: http.IncomingMessage; res: http.ServerResponse }[] = [];
    let pair: { req: boolean; res: boolean } | null = null;
    const release: (() => void)[] = [];
    router.get('/item/:id', (req, res) => {
      res.locals.id = req.params.id;
      held.push({ req, res });
      if (held.length % 2 === 0) {
        // Two requests in the handler at once, at the same point of their life: compare their maps.
        const [a, b] = held.slice(-2);
        pair = { req: haveSameMap(a!.req, b!.req), res: haveSameMap(a!.res, b!.res) };
        for (const go of release.splice(0)) go();
        res.send(String(res.locals.id));
      } else release.push(() => void res.send(String(res.locals.id)));
    });
    app.use('/api', router);
    const t = await startTest({ app });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const get = (id: number) => fetchText(`${t.url}/api/item/${id}`, agent);
      // Warm-up rounds first: the first requests of a route build what the later ones reuse.
      for (let round = 0; round < 5; round++) expect(await Promise.all([get(round * 2), get(round * 2 + 1)])).toEqual([String(round * 2), String(round * 2 + 1)]);
      expect(pair).toEqual({ req: true, res: true });
    } finally {
      agent.destroy();
    }
  });
});

function fetchText(url: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}
