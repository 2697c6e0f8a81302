// Integration: inspector discovery of `tspuma -w 1 --inspect` (and of single mode) as clients see
// it: web origins refused on every path, the bridge to the primary's or the server's own main
// thread included, answers framed and shaped as Node's own inspector frames them, and
// chrome-remote-interface with its default options attaching, breaking at a .ts line and resuming.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import CDP from 'chrome-remote-interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ListEntry } from '../../inspector/discovery.js';
import { boot, discoveryUrl, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { rawRequest, SLOWNESS, statusOf, waitFor } from '../helpers/net.js';
import { generatedFor, inlineMap } from '../helpers/source-maps.js';

const EXPRESS = join(ROOT, 'examples/express.ts');

let s: Booted;
/** Discovery's port: kernel-chosen (--inspect=127.0.0.1:0), read from its boot line. */
let base: number;
let entries: ListEntry[];
let node: ChildProcess | null = null;
let nodeInspector = '';

beforeAll(async () => {
  s = await boot(['-w', '1', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', EXPRESS]);
  base = Number(new URL(await discoveryUrl(s)).port);
  entries = await waitFor(async () => {
    const list = (await (await fetch(`http://127.0.0.1:${base}/json/list`)).json()) as ListEntry[];
    return list.length === 2 ? list : null;
  }, 'the primary and worker 0 listed');
  // Node's own inspector, to compare answers with.
  node = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  node.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  nodeInspector = await waitFor(() => /Debugger listening on ws:\/\/(127\.0\.0\.1:\d+)\//.exec(err)?.[1], 'node --inspect to listen');
});

afterAll(async () => {
  node?.kill('SIGKILL');
  await killAll();
});

/** One raw HTTP exchange, so framing (Content-Length against chunked) is seen as sent. */
async function raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string; body: string }> {
  const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${base}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const { text, closed } = await rawRequest(base, `${lines.join('\r\n')}\r\n\r\n`);
  // Connection: close: a whole answer ends with the close (an empty one was read as headers missing).
  if (!closed) throw new Error(`GET ${path}: discovery did not answer and close within the bound; read: ${JSON.stringify(text)}`);
  const split = text.indexOf('\r\n\r\n');
  return { status: statusOf(text), head: text.slice(0, split), body: text.slice(split + 4) };
}

const header = (head: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1] ?? null;

/** A WebSocket handshake with this Origin (none when undefined): the open socket, or the refusal. */
function handshake(url: string, origin?: string, host?: string): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(origin === undefined ? {} : { origin }), ...(host === undefined ? {} : { headers: { host } }) });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

/** Runtime.evaluate over an open socket; the value. */
function evaluate(ws: WebSocket, expression: string): Promise<unknown> {
  return new Promise((resolve) => {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: { result: { value: unknown } } };
      if (msg.id === 1) resolve(msg.result!.result.value);
    });
    ws.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } }));
  });
}

describe('discovery refuses web origins', () => {
  it('a WebSocket to tspuma-worker-0 with Origin https://evil.example (or null) gets 403 with the reason, and the refusal is logged', async () => {
    const url = `ws://127.0.0.1:${base}/tspuma-worker-0`;
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:8080']) {
      const refused = await handshake(url, origin);
      expect(refused).toEqual({ status: 403, body: expect.stringContaining(`Origin ${origin} is a web page`) });
    }
    // The primary's id too, which the bridge serves: every path of the proxy.
    for (const origin of ['https://evil.example', 'null']) {
      expect(await handshake(`ws://127.0.0.1:${base}/tspuma-primary`, origin)).toEqual({ status: 403, body: expect.stringContaining(`Origin ${origin} is a web page`) });
    }
    expect(await handshake(`ws://127.0.0.1:${base}/tspuma-primary`, undefined, 'evil.example')).toMatchObject({ status: 403, body: expect.stringContaining('Host must be an IP address or localhost') });
    // Two Host lines (node keeps the first, 127.0.0.1): refused as RFC 9112 §3.2 asks.
    const twice = await rawRequest(base, 'GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    expect([statusOf(twice.text), twice.text.includes('more than one Host line')]).toEqual([403, true]);
    // Found by what it says rather than by its place among the refusal lines: the first of each
    // kind is logged (then the 10th, 100th...), and the Host one came in the same moment.
    const refusals = () => s.lines().filter((l) => l.level === 40 && /^Inspector discovery refused /.test(String(l.msg)));
    const logged = await waitFor(() => refusals().find((l) => l.origin === 'https://evil.example'), 'the Origin refusal logged');
    // Coded, with the client's address, as the control app's refusals are (review10.3).
    expect(logged).toMatchObject({ code: 'TSPUMA_ERR_INSPECT_REFUSED', remote: '127.0.0.1', origin: 'https://evil.example', path: '/tspuma-worker-0', count: 1 });
    expect(String(logged.msg)).toBe(`Inspector discovery refused a WebSocket for /tspuma-worker-0: Origin https://evil.example is a web page; inspectors accept DevTools (devtools://) and clients that send no Origin`);
  });

  it('DevTools\' own origin (devtools://devtools) and a client without Origin attach to worker 0 (proxy) and the primary (bridge) and read their pids', async () => {
    for (const [id, pid] of [['tspuma-worker-0', entries.find((e) => e.id === 'tspuma-worker-0')!.tspuma.pid], ['tspuma-primary', s.proc.pid!]] as const) {
      for (const origin of ['devtools://devtools', undefined]) {
        const opened = await handshake(`ws://127.0.0.1:${base}/${id}`, origin);
        if (!('ws' in opened)) throw new Error(`refused ${origin}: ${opened.status} ${opened.body}`);
        expect(await evaluate(opened.ws, 'process.pid')).toBe(pid);
        opened.ws.close();
      }
    }
  });

  it('each client that attaches through discovery is logged with its target, address, Origin and User-Agent, and again when it leaves, with how long it stayed (U2)', async () => {
    const worker = entries.find((e) => e.id === 'tspuma-worker-0')!;
    const ws = new WebSocket(`ws://127.0.0.1:${base}/tspuma-worker-0`, { origin: 'devtools://devtools', headers: { 'user-agent': 'Mozilla/5.0 U2-check' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const attached = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith(`DevTools client attached to ${worker.title} from 127.0.0.1 (Origin "devtools://devtools", User-Agent "Mozilla/5.0 U2-check")`)), 'the attach line');
    expect(attached).toMatchObject({ level: 30, target: 'tspuma-worker-0', targetPid: worker.tspuma.pid, worker: 0, peer: '127.0.0.1', origin: 'devtools://devtools', userAgent: 'Mozilla/5.0 U2-check' });
    expect(attached.msg).toBe(`DevTools client attached to ${worker.title} from 127.0.0.1 (Origin "devtools://devtools", User-Agent "Mozilla/5.0 U2-check")`);
    ws.close();
    const left = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith(`DevTools client of ${worker.title} from 127.0.0.1 left after `) && l.userAgent === 'Mozilla/5.0 U2-check'), 'the leave line');
    expect(left.msg).toMatch(/ left after \d+(\.\d)? s$/);
    expect(left.seconds).toEqual(expect.any(Number));
    // The bridged target (the primary's own main thread) and a client that sends neither header.
    const bare = new WebSocket(`ws://127.0.0.1:${base}/tspuma-primary`);
    await new Promise((resolve, reject) => bare.once('open', resolve).once('error', reject));
    const primary = entries.find((e) => e.id === 'tspuma-primary')!;
    await waitFor(() => s.lines().find((l) => l.msg === `DevTools client attached to ${primary.title} from 127.0.0.1 (no Origin, no User-Agent)`), 'the bridged attach line');
    bare.close();
  });

  it('plain HTTP with a web Origin is refused on /json/list, /json/version and /json/protocol; no Origin is served', async () => {
    for (const path of ['/json/list', '/json', '/json/version', '/json/protocol']) {
      const refused = await raw(path, { Origin: 'https://evil.example' });
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('Origin https://evil.example is a web page');
      expect(refused.body).not.toContain('tspuma-worker-0');
    }
    expect((await raw('/json/list')).status).toBe(200);
    expect((await raw('/json/list', { Origin: 'devtools://devtools' })).status).toBe(200);
  });
});

describe('discovery answers as Node\'s inspector does', () => {
  it('every answer has a Content-Length matching its body and no chunked encoding, as Node sends', async () => {
    // Node's inspector keeps the socket open after its answer: read it with fetch.
    const theirs = await fetch(`http://${nodeInspector}/json/list`);
    expect(Number(theirs.headers.get('content-length'))).toBe((await theirs.arrayBuffer()).byteLength);
    for (const path of ['/json', '/json/list', '/json/version', '/json/protocol', '/nothing-here']) {
      const ours = await raw(path);
      expect(header(ours.head, 'Transfer-Encoding')).toBeNull();
      expect(Number(header(ours.head, 'Content-Length'))).toBe(Buffer.byteLength(ours.body, 'latin1'));
      if (path !== '/nothing-here') expect(header(ours.head, 'Content-Type')).toBe(theirs.headers.get('content-type'));
    }
  });

  it('/json/list entries have Node\'s fields in Node\'s order (plus `tspuma`); /json/version and /json/protocol match Node\'s', async () => {
    const nodeList = (await (await fetch(`http://${nodeInspector}/json/list`)).json()) as Record<string, unknown>[];
    const ours = (await (await fetch(`http://127.0.0.1:${base}/json/list`)).json()) as Record<string, unknown>[];
    for (const entry of ours) {
      expect(Object.keys(entry).filter((k) => k !== 'tspuma')).toEqual(Object.keys(nodeList[0]!));
      for (const key of Object.keys(nodeList[0]!)) expect(typeof entry[key]).toBe('string');
    }
    const nodeVersion = (await (await fetch(`http://${nodeInspector}/json/version`)).json()) as Record<string, string>;
    const version = (await (await fetch(`http://127.0.0.1:${base}/json/version`)).json()) as Record<string, string>;
    expect(Object.keys(version)).toEqual(Object.keys(nodeVersion));
    expect(version['Protocol-Version']).toBe(nodeVersion['Protocol-Version']);
    type Protocol = { version: unknown; domains: { domain: string; commands?: { name: string }[] }[] };
    const nodeProtocol = (await (await fetch(`http://${nodeInspector}/json/protocol`)).json()) as Protocol;
    const protocol = (await (await fetch(`http://127.0.0.1:${base}/json/protocol`)).json()) as Protocol;
    expect(protocol.version).toEqual(nodeProtocol.version);
    expect(protocol.domains.map((d) => d.domain)).toEqual(nodeProtocol.domains.map((d) => d.domain));
    expect(protocol.domains.find((d) => d.domain === 'Debugger')!.commands!.map((c) => c.name)).toContain('setBreakpoint');
  });
});

interface ScriptParsed {
  scriptId: string;
  url: string;
  sourceMapURL?: string;
}

/**
 * Through discovery at `port`, target `target` (undefined: CRI's default choice): a breakpoint at
 * express.ts's res.json line, set through the source map, pauses GET /users/42 of `url`; the
 * local req.params.id reads "42"; resumed, the request completes.
 */
async function breakAtUsersJson(port: number, target: string | undefined, url: string): Promise<void> {
  const wanted = readFileSync(EXPRESS, 'utf8').split('\n').findIndex((l) => l.includes('res.json({ id: Number(req.params.id)'));
  expect(wanted).toBeGreaterThan(0);
  const client = await CDP({ host: '127.0.0.1', port, ...(target ? { target } : {}) });
  try {
    const scripts: ScriptParsed[] = [];
    client.on('Debugger.scriptParsed', (p: ScriptParsed) => void scripts.push(p));
    await client.Debugger.enable({});
    const script = await waitFor(() => scripts.find((p) => inlineMap(p.sourceMapURL)?.payload.sources.some((src: string) => src.endsWith('examples/express.ts'))), 'express.ts parsed with its source map');
    const { scriptSource } = await client.Debugger.getScriptSource({ scriptId: script.scriptId });
    const at = generatedFor(inlineMap(script.sourceMapURL)!, scriptSource, 'examples/express.ts', wanted);
    if (!at) throw new Error(`no generated position for express.ts:${wanted + 1}`);
    const { actualLocation } = await client.Debugger.setBreakpoint({ location: { scriptId: script.scriptId, ...at } });
    expect(actualLocation.lineNumber).toBe(at.lineNumber);

    const paused = new Promise<{ callFrames: { callFrameId: string; location: { lineNumber: number; columnNumber?: number } }[] }>((resolve) => client.on('Debugger.paused', resolve));
    const response = fetch(`${url}/users/42`, { headers: { connection: 'close' } });
    const { callFrames } = await paused;
    const top = callFrames[0]!;
    const back = inlineMap(script.sourceMapURL)!.findEntry(top.location.lineNumber, top.location.columnNumber ?? 0) as { originalLine: number };
    expect(back.originalLine).toBe(wanted);
    const { result } = await client.Debugger.evaluateOnCallFrame({ callFrameId: top.callFrameId, expression: 'req.params.id', returnByValue: true });
    expect(result.value).toBe('42');
    await client.Debugger.resume({});
    const res = await response;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 42, name: 'user 42' });
  } finally {
    await client.close();
  }
}

describe('chrome-remote-interface with its default options', () => {
  it('CDP({host, port}) reaches the primary and CDP({host, port, target: "tspuma-worker-0"}) evaluates process.pid in the worker', async () => {
    const [primary, worker0] = [entries.find((e) => e.id === 'tspuma-primary')!, entries.find((e) => e.id === 'tspuma-worker-0')!];
    for (const [options, pid] of [[{ host: '127.0.0.1', port: base }, primary.tspuma.pid], [{ host: '127.0.0.1', port: base, target: 'tspuma-worker-0' }, worker0.tspuma.pid]] as const) {
      const client = await CDP(options);
      try {
        const { result } = await client.Runtime.evaluate({ expression: 'process.pid', returnByValue: true });
        expect(result.value).toBe(pid);
      } finally {
        await client.close();
      }
    }
    expect(primary.tspuma.pid).toBe(s.proc.pid);
  });

  it('a breakpoint at express.ts\'s res.json line in worker 0, set through the source map, pauses GET /users/42 with req.params.id "42"; resumed, the request completes', async () => {
    await breakAtUsersJson(base, 'tspuma-worker-0', s.url);
  });
});

describe('single mode: the server\'s own target, served by discovery\'s bridge', () => {
  let single: Booted;
  let port: number;
  beforeAll(async () => {
    single = await boot(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', EXPRESS]);
    port = Number(new URL(await discoveryUrl(single)).port);
  });

  // Was cli.test's, where it booted examples/express.ts once more for three requests (the
  // inspector this server has on is not in their way: no client is attached yet).
  it('serves Express 5 from the real package (examples/express.ts)', async () => {
    expect(await (await fetch(single.url)).text()).toBe('Hello from Express\n');
    expect(await (await fetch(`${single.url}/users/7`)).json()).toEqual({ id: 7, name: 'user 7' });
    const echo = await fetch(`${single.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(await echo.json()).toEqual({ received: { a: 1 } });
  });

  it('the list describes the server as the server, not as a primary', async () => {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as ListEntry[];
    expect(list.map((e) => [e.id, e.description])).toEqual([['tspuma-single', expect.stringMatching(/^tspuma \S+ server$/)]]);
  });

  it('CDP({host, port}) with default options evaluates process.pid in the server process itself; Node printed no "Debugger listening" line', async () => {
    const client = await CDP({ host: '127.0.0.1', port });
    try {
      const { result } = await client.Runtime.evaluate({ expression: 'process.pid', returnByValue: true });
      expect(result.value).toBe(single.proc.pid);
    } finally {
      await client.close();
    }
    expect(single.stderr()).not.toContain('Debugger listening');
  });

  it("/json/protocol is Node's own though no process has an inspector port (read from a short-lived node of the same binary)", async () => {
    type Protocol = { domains: { domain: string }[] };
    const nodeProtocol = (await (await fetch(`http://${nodeInspector}/json/protocol`)).json()) as Protocol;
    const protocol = (await (await fetch(`http://127.0.0.1:${port}/json/protocol`)).json()) as Protocol;
    expect(protocol.domains.map((d) => d.domain)).toEqual(nodeProtocol.domains.map((d) => d.domain));
  });

  it('a breakpoint at express.ts\'s res.json line, set through the bridge and the source map, pauses GET /users/42 with req.params.id "42"; resumed, the request completes', async () => {
    await breakAtUsersJson(port, undefined, single.url);
  });

  it('a client that leaves while the server is paused resumes it: the paused request completes', async () => {
    const client = await CDP({ host: '127.0.0.1', port });
    let response: Promise<Response> | null = null;
    try {
      await client.Debugger.enable({});
      const paused = new Promise((resolve) => client.on('Debugger.paused', resolve));
      await client.Debugger.pause();
      response = fetch(`${single.url}/users/7`, { headers: { connection: 'close' } });
      await paused;
    } finally {
      await client.close();
    }
    const res = await response!;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 7, name: 'user 7' });
  });
});

describe('discovery under a flood of half-sent requests from one local process (N8.4)', () => {
  it('300 held heads from 127.0.0.1 keep out neither a client on 127.0.0.2 nor one on 127.0.0.1: /json/list answers 200 and a DevTools client attaches to worker 0', async () => {
    const { request } = await import('node:http');
    const net = await import('node:net');
    // Ours is accepted after the flood's 300 connections (each accepted, the oldest past 16 closed),
    // so how long it waits is the discovery thread's pace: a bound scaled as waitFor's (a load of 30
    // on 2 cores ran out of 5 s, shard 1/4 of tests20's run 1).
    const list = (localAddress: string) =>
      new Promise<number | string>((resolve) => {
        const req = request({ host: '127.0.0.1', port: base, path: '/json/list', localAddress, agent: false, timeout: 5000 * SLOWNESS }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${5000 * SLOWNESS} ms`)));
        req.on('error', (err: NodeJS.ErrnoException) => resolve(`no answer from ${localAddress}: ${err.code ?? err.message}`)); // what failed, in place of the status
        req.end();
      });
    const flood: import('node:net').Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const c = net.connect(base, '127.0.0.1', () => c.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: `));
        c.on('error', () => undefined);
        flood.push(c);
      }
      await waitFor(() => flood.every((c) => !c.connecting), 'the flood connected (or closed)');
      expect(await list('127.0.0.2')).toBe(200);
      expect(await list('127.0.0.1')).toBe(200);
      const client = await CDP({ host: '127.0.0.1', port: base, target: 'tspuma-worker-0' });
      try {
        expect((await client.Runtime.evaluate({ expression: '1 + 1', returnByValue: true })).result.value).toBe(2);
      } finally {
        await client.close();
      }
      await waitFor(() => s.lines().some((l) => String(l.msg).startsWith('inspector discovery: 16 connections from 127.0.0.1 reached; closed the longest-idle connection')), 'the eviction line');
    } finally {
      for (const c of flood) c.destroy();
    }
  });
});
