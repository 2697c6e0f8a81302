// Integration: debug mode observes the app; it does not change what the app's own stacks hold.
// Each route answers with the stack text of an Error the app makes in one kind of work that -d
// follows into its call (the app call itself, a timer, an interval, an immediate, a microtask, a
// tick, a promise reaction, an await, the request's body events; and an Express 5 app's timer, await,
// express.json() handler and error middleware): the same text with and without
// -d, frame for frame (T6 / Q9.5: `Immediate._onImmediate … dist/diagnostics/call-context.js`
// appeared between the app's frame and node's, and Sentry groups issues by those frames).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';

const root = appFolder('app-stacks', {
  'stacks-app.ts': [
    "import type { IncomingMessage, ServerResponse } from 'node:http';",
    '',
    'function answer(res: ServerResponse, err: Error): void {',
    "  res.setHeader('content-type', 'text/plain');",
    '  res.end(err.stack);',
    '}',
    '',
    'function nested(depth: number, res: ServerResponse): void {',
    "  if (depth === 0) return answer(res, new Error('deep'));",
    '  nested(depth - 1, res);',
    '}',
    '',
    'export default async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {',
    "  switch (req.url) {",
    "    case '/call': return answer(res, new Error('call'));",
    "    case '/deep-call': return nested(4, res);",
    "    case '/timeout': setTimeout(() => answer(res, new Error('timeout')), 1); return;",
    "    case '/interval': { const t = setInterval(() => { clearInterval(t); answer(res, new Error('interval')); }, 1); return; }",
    "    case '/immediate': setImmediate(() => answer(res, new Error('immediate'))); return;",
    "    case '/deep-immediate': setImmediate(() => nested(6, res)); return;",
    "    case '/microtask': queueMicrotask(() => answer(res, new Error('microtask'))); return;",
    "    case '/tick': process.nextTick(() => answer(res, new Error('tick'))); return;",
    "    case '/tick-args': process.nextTick((a: string, b: string) => answer(res, new Error(a + b)), 'tick', '-args'); return;",
    "    case '/then': void Promise.resolve().then(() => answer(res, new Error('then'))); return;",
    "    case '/await': await null; return answer(res, new Error('await'));",
    "    case '/body': {",
    "      let got = '';",
    "      req.on('data', (c: Buffer) => (got += c));",
    "      req.on('end', () => answer(res, new Error(`body ${got}`)));",
    '      return;',
    '    }',
    "    case '/captured': { const o = {} as { stack: string }; Error.captureStackTrace(o); res.end(o.stack); return; }",
    '  }',
    '  res.statusCode = 404;',
    "  res.end('no route');",
    '}',
    '',
  ].join('\n'),
});

const ROUTES = ['/call', '/deep-call', '/timeout', '/interval', '/immediate', '/deep-immediate', '/microtask', '/tick', '/tick-args', '/then', '/await', '/body', '/captured'];

async function stacksOf(s: Booted): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const route of ROUTES) {
    const r = await fetch(`${s.url}${route}`, route === '/body' ? { method: 'POST', body: 'abc' } : {});
    out[route] = `${r.status} ${await r.text()}`;
  }
  return out;
}

const EXPRESS = join(ROOT, 'test/fixtures/apps/express-stacks-app.ts');
const EXPRESS_ROUTES = ['/x/sync', '/x/timer', '/x/await', '/x/body', '/x/fail'];

async function expressStacksOf(s: Booted): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const route of EXPRESS_ROUTES) {
    const r = await fetch(`${s.url}${route}`, route === '/x/body' ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' } : {});
    out[route] = `${r.status} ${await r.text()}`;
  }
  return out;
}

let plain: Record<string, string>;
let debug: Record<string, string>;
let plainExpress: Record<string, string>;
let debugExpress: Record<string, string>;

beforeAll(async () => {
  // Four servers booted at once, each asked on its own: the file waits for the slowest boot, not
  // the four one after the other.
  [plain, debug, plainExpress, debugExpress] = await Promise.all([
    boot(['-b', 'tcp://127.0.0.1:0', 'stacks-app.ts'], {}, root).then(stacksOf),
    boot(['-d', '-b', 'tcp://127.0.0.1:0', 'stacks-app.ts'], {}, root).then(stacksOf),
    boot(['-b', 'tcp://127.0.0.1:0', EXPRESS]).then(expressStacksOf),
    boot(['-d', '-b', 'tcp://127.0.0.1:0', EXPRESS]).then(expressStacksOf),
  ]);
  await killAll();
}, 120_000);
afterAll(killAll);

describe('-d does not change the stacks of the errors the app makes', () => {
  it.each(ROUTES)('%s: the same stack text, frame for frame, with and without -d', (route) => {
    expect(plain[route]).toMatch(/^200 Error/);
    expect(plain[route]).toContain('stacks-app.ts:');
    expect(debug[route]).toBe(plain[route]);
  });

  it('no frame of tspuma debug mode (dist/diagnostics) is in any of them', () => {
    for (const route of ROUTES) expect(debug[route]).not.toMatch(/dist\/diagnostics\//);
  });

  it.each(EXPRESS_ROUTES)('Express 5 %s: the same stack text with and without -d (a timer, an await, express.json() after the body, an error middleware)', (route) => {
    expect(plainExpress[route]).toMatch(route === '/x/fail' ? /^500 Error: failed\n/ : /^200 Error: /);
    expect(plainExpress[route]).toContain('express-stacks-app.ts:');
    expect(debugExpress[route]).toBe(plainExpress[route]);
  });
});
