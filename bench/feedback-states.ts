// `node dist/bench/feedback-states.js [ROW...]`: which of node's request-path functions (the ones
// user land can reach: EventEmitter, the streams, net.Socket, node:http's messages and servers, the
// stream state constructors) hold megamorphic property accesses after REQUESTS keep-alive hello
// requests, in a tspuma process and in the process of what a user would pick instead, side by side.
// A megamorphic access runs V8's generic IC builtins (LoadIC_Megamorphic, KeyedStoreIC_Megamorphic)
// on every request, where a monomorphic one is a map check: the callgrind rows' "IC handlers".
// Deterministic (V8's own feedback, read with %DebugPrint in the server through a preload of this
// file), so it needs no quiet machine. ROW: fetch (bench/fetch-app.ts against @hono/node-server),
// hono (the same Hono app on each), listener (bench/listener-app.ts against raw node:http).
// Env: REQUESTS (default 5000), ROOT (another built checkout for both sides: a build before a change),
// SLOTS=1 (the slots themselves rather than their count), RESET=1 (a lab, never the product: the
// preload clears those functions' feedback and optimized code a tick after the first request, with
// V8's %ClearFunctionFeedback and %DeoptimizeFunction, so they re-learn from requests alone: what
// the boot's feedback costs; bench/README.md, session 17, fetch10).
import { spawn, type ChildProcess } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import stream from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = process.env.ROOT ? path.resolve(process.env.ROOT) : path.resolve(HERE, '../..');
const REQUESTS = Number(process.env.REQUESTS ?? 5000);
const END = '#### feedback-states: end';

interface Side {
  label: string;
  argv(port: number): string[];
}
const tspuma = (app: string) => (port: number) => [path.join(ROOT, 'dist/server/cli.js'), '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, path.join(ROOT, app)];
const ROWS: Record<string, [Side, Side]> = {
  fetch: [{ label: 'tspuma (fetch handler)', argv: tspuma('bench/fetch-app.ts') }, { label: '@hono/node-server', argv: (port) => [path.join(ROOT, 'dist/bench/anchors.js'), 'fetch', String(port)] }],
  hono: [{ label: 'tspuma (Hono)', argv: tspuma('bench/hono-app.ts') }, { label: '@hono/node-server', argv: (port) => [path.join(ROOT, 'dist/bench/anchors.js'), 'hono', String(port)] }],
  listener: [{ label: 'tspuma (listener)', argv: tspuma('bench/listener-app.ts') }, { label: 'raw node:http', argv: (port) => [path.join(ROOT, 'dist/bench/raw-node.js'), String(port)] }],
};

function get(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

async function drive(port: number, child: ChildProcess): Promise<void> {
  const end = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before answering`);
    try {
      await get(port, new http.Agent());
      break;
    } catch {
      if (Date.now() > end) throw new Error(`port ${port} did not answer in 120 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  for (let done = 0; done < REQUESTS; done += 10) await Promise.all(Array.from({ length: 10 }, () => get(port, agent)));
  agent.destroy();
}

/** Each function's megamorphic feedback slots ("#3 LoadProperty"), from the child's output. */
async function states(side: Side): Promise<Map<string, string[]>> {
  // %DebugPrint writes through C's stdout: to a file, unbuffered (bench/emitter-feedback.ts).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'feedback-states-'));
  const file = path.join(dir, 'out');
  const fd = openSync(file, 'w');
  const port = await freePort();
  const child = spawn('stdbuf', ['-o0', process.execPath, '--allow-natives-syntax', '--import', import.meta.url, ...side.argv(port)], {
    stdio: ['ignore', fd, 'inherit'],
    env: { ...process.env, FEEDBACK_STATES_CHILD: '1' },
  });
  closeSync(fd);
  try {
    await drive(port, child);
    child.kill('SIGUSR2');
    const end = Date.now() + 60_000;
    while (!readFileSync(file, 'utf8').includes(END)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`${side.label}: no feedback printed`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const out = new Map<string, string[]>();
    for (const block of readFileSync(file, 'utf8').split('\n#### ').slice(1)) {
      const name = block.slice(0, block.indexOf('\n'));
      const slots = [...block.matchAll(/slot #(\d+) (\S+) MEGAMORPHIC/g)].map((m) => `#${m[1]} ${m[2]}`);
      if (slots.length > 0) out.set(name, slots);
    }
    return out;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(ROWS);
  for (const row of rows) {
    const sides = ROWS[row];
    if (!sides) throw new Error(`unknown row ${row}; known: ${Object.keys(ROWS).join(', ')}`);
    const [a, b] = [await states(sides[0]), await states(sides[1])];
    console.log(`\n${row}: megamorphic feedback slots of node's request-path functions after ${REQUESTS} keep-alive requests (node ${process.version}, ${ROOT}${process.env.RESET === '1' ? ', RESET=1: cleared after the first request' : ''})`);
    console.log(`| function | ${sides[0].label} | ${sides[1].label} |`);
    console.log('| --- | ---: | ---: |');
    const cell = (s: string[] | undefined) => (s ? (process.env.SLOTS === '1' ? s.join(', ') : String(s.length)) : '0');
    for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) console.log(`| ${name} | ${cell(a.get(name))} | ${cell(b.get(name))} |`);
    const total = (m: Map<string, string[]>) => [...m.values()].reduce((n, s) => n + s.length, 0);
    console.log(`| **all** | ${total(a)} | ${total(b)} |`);
  }
}

/** Own methods and accessors of `proto` (not its constructor), as `Owner.name` (`get name` for a getter). */
function methodsOf(owner: string, proto: object, out: Map<Function, string>): void {
  for (const key of Reflect.ownKeys(proto)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, key)!;
    for (const [f, how] of [[d.value, ''], [d.get, 'get '], [d.set, 'set ']] as const) if (typeof f === 'function' && !out.has(f)) out.set(f, `${owner}.${how}${String(key)}`);
  }
}

/**
 * The node functions every request runs through that user land can reach, each with a name: the
 * constructors and prototype methods of EventEmitter, the streams, net.Socket, node:http's messages
 * and servers, EventEmitter.init and the stream state constructors (a method inherited unchanged
 * is named once, by the first class that has it).
 */
function requestPathFunctions(): Map<Function, string> {
  const out = new Map<Function, string>();
  const classes: [string, Function][] = [
    ['EventEmitter', EventEmitter], ['Stream', Object.getPrototypeOf(stream.Readable) as Function], ['Readable', stream.Readable], ['Writable', stream.Writable], ['Duplex', stream.Duplex],
    ['Socket', net.Socket], ['net.Server', net.Server], ['http.Server', http.Server], ['OutgoingMessage', Object.getPrototypeOf(http.ServerResponse) as Function], ['ServerResponse', http.ServerResponse], ['IncomingMessage', http.IncomingMessage],
  ];
  for (const [name, C] of classes) {
    if (!out.has(C)) out.set(C, `new ${name}`);
    methodsOf(name, C.prototype as object, out);
  }
  out.set((EventEmitter as unknown as { init: Function }).init, 'EventEmitter.init');
  const r = new stream.Readable({ read() {} });
  const w = new stream.Writable({ write(_c, _e, cb) { cb(); } });
  out.set((r as unknown as { _readableState: object })._readableState.constructor as Function, 'new ReadableState');
  out.set((w as unknown as { _writableState: object })._writableState.constructor as Function, 'new WritableState');
  r.destroy();
  w.destroy();
  return out;
}

if (process.env.FEEDBACK_STATES_CHILD === '1') {
  // The preload (natives syntax is on: the parent starts the server with --allow-natives-syntax).
  // The list is made when used: the streams it builds would otherwise feed the functions at boot.
  if (process.env.RESET === '1') {
    const reset = new Function('f', '%ClearFunctionFeedback(f); %DeoptimizeFunction(f);') as (f: Function) => void;
    const start = dc.channel('http.server.request.start');
    const first = (): void => {
      start.unsubscribe(first);
      setImmediate(() => {
        for (const f of requestPathFunctions().keys()) reset(f);
      });
    };
    start.subscribe(first);
  }
  // On SIGUSR2, %DebugPrint each function (to C's stdout) under a line naming it.
  process.on('SIGUSR2', () => {
    const print = new Function('f', '%DebugPrint(f)') as (f: Function) => void;
    for (const [f, name] of requestPathFunctions()) {
      process.stdout.write(`\n#### ${name}\n`);
      print(f);
    }
    process.stdout.write(`\n${END}\n`);
  });
} else {
  await main();
}
