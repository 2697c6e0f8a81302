// `node dist/bench/emitter-feedback.js`: the state of node's EventEmitter.init feedback (its
// property stores and loads) after a raw node:http hello has served 3,000 requests, in processes
// that differ only in what ran before the server started: nothing, importing 20 one-line ES
// modules, importing tspuma's package entry, booting tspuma's start() beside it. Every Socket,
// IncomingMessage and ServerResponse runs EventEmitter.init (three a request); once its feedback
// has seen five kinds of emitter its stores go megamorphic (V8's generic StoreIC and
// KeyedStoreIC_Megamorphic: the callgrind rows of bench/README.md, session 15) for the process's
// life. Deterministic (V8's own feedback, read with %DebugPrint), so it needs no quiet machine.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VARIANTS = ['raw', 'esm20', 'tspuma-import', 'tspuma-start'] as const;
type Variant = (typeof VARIANTS)[number];
/** EventEmitter.init's feedback slots (Node 20's node:events, in source order) and what each is. */
const SLOTS: Record<string, string> = {
  '0': 'load this._events',
  '10': 'store _events',
  '12': 'store _eventsCount',
  '16': 'store [kShapeMode]',
  '20': 'store _maxListeners',
  '34': 'store [kCapture]',
};

async function child(variant: Variant): Promise<void> {
  if (variant === 'esm20') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'emitter-feedback-'));
    for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, `m${i}.mjs`), `export const v${i} = ${i};\n`);
    writeFileSync(path.join(dir, 'all.mjs'), Array.from({ length: 20 }, (_, i) => `import './m${i}.mjs';\n`).join(''));
    await import(pathToFileURL(path.join(dir, 'all.mjs')).href);
    rmSync(dir, { recursive: true, force: true });
  }
  if (variant === 'tspuma-import') await import('../server/index.js');
  if (variant === 'tspuma-start') {
    const { start } = await import('../server/index.js');
    await start({ app: path.join(HERE, 'listener-app.js'), bind: ['tcp://127.0.0.1:0'], quiet: true, environment: 'production' });
  }
  const { EventEmitter } = await import('node:events');
  // Needs --allow-natives-syntax (the parent passes it); prints to stdout.
  const debugPrint = new Function('f', '%DebugPrint(f)') as (f: unknown) => void;
  const body = 'Hello World\n';
  const server = http.createServer((req, res) => {
    if (req.url === '/feedback') debugPrint((EventEmitter as unknown as { init: unknown }).init);
    if (req.url === '/exit') setImmediate(() => process.exit(0));
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as { port: number }).port}\n`));
}

function get(port: number, pathName: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: pathName, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

async function run(variant: Variant): Promise<Map<string, string>> {
  // The child's stdout goes to a file: %DebugPrint writes through C's stdout, which loses text
  // into the non-blocking pipe node makes of a piped stdout (and is block-buffered without stdbuf).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emitter-feedback-out-'));
  const file = path.join(dir, 'out');
  const fd = openSync(file, 'w');
  const proc = spawn('stdbuf', ['-o0', process.execPath, '--allow-natives-syntax', fileURLToPath(import.meta.url), 'child', variant], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const exited = new Promise((r) => proc.once('exit', r));
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    const end = Date.now() + 60_000;
    for (;;) {
      const out = readFileSync(file, 'utf8');
      const m = re.exec(out);
      if (m) return m;
      if (Date.now() > end || proc.exitCode !== null) throw new Error(`${variant}: no ${re} in the child's output:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    const port = Number((await until(/^port (\d+)$/m))[1]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    // 3,000 requests over 10 keep-alive connections (the functions warm up and get optimized).
    for (let done = 0; done < 3000; done += 10) await Promise.all(Array.from({ length: 10 }, () => get(port, '/', agent)));
    await get(port, '/feedback', agent);
    await get(port, '/exit', agent);
    agent.destroy();
    await exited;
    const text = readFileSync(file, 'utf8');
    const states = new Map<string, string>();
    for (const m of text.matchAll(/slot #(\d+) \S+ (UNINITIALIZED|MONOMORPHIC|POLYMORPHIC|MEGAMORPHIC)/g)) if (SLOTS[m[1]!]) states.set(m[1]!, m[2]!);
    return states;
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as Variant);
} else {
  const chosen = (process.argv.slice(2).length ? process.argv.slice(2) : VARIANTS) as Variant[];
  console.log(`EventEmitter.init's feedback after 3,000 hello requests (node ${process.version})`);
  console.log(`| process | ${Object.values(SLOTS).join(' | ')} |`);
  console.log(`| --- |${' --- |'.repeat(Object.keys(SLOTS).length)}`);
  for (const v of chosen) {
    const states = await run(v);
    console.log(`| ${v} | ${Object.keys(SLOTS).map((s) => (states.get(s) ?? '?').toLowerCase()).join(' | ')} |`);
  }
}
