// raw node:http's hello world in a process that first imports tspuma's whole server module graph
// and loads pino, and never uses them: the tenth round's reverse ablation (bench/README.md). Set
// against bench/raw-node.ts it says what loading tspuma's code alone does to node:http's own path
// (megamorphic ICs, heap and code layout); set against a tspuma process it says what tspuma's
// per-request code adds on top. `node dist/bench/raw-graph.js PORT`, or PORT in the environment
// (bench/cpu-processes.sh); GRAPH=0 skips the imports (the same file as plain raw node:http).
import http from 'node:http';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Modules with effects beyond their definitions: the CLI, a thread's entry, the loader hooks. */
const SKIP = new Set(['cli.js', 'side-thread-entry.js', 'ts-hooks.js', 'ts-loader-cjs-hooks.js']);

const dir = fileURLToPath(new URL('../server/', import.meta.url));
let imported = 0;
if (process.env.GRAPH !== '0') {
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.js') || SKIP.has(file)) continue;
    await import(new URL(`../server/${file}`, import.meta.url).href);
    imported++;
  }
  const { loadPino } = (await import('../server/pino-load.js')) as { loadPino: () => unknown };
  loadPino();
}

const body = 'Hello World\n';
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end(body);
});
const port = Number(process.argv[2] ?? process.env.PORT);
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready (${imported} tspuma modules imported)\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
