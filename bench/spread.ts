// `npm run bench:spread`: how requests spread across `tspuma -w 2` workers under a skewed load:
// one connection keeps a worker busy with /cpu?ms=20 (synchronous work) while 4 others ask for /;
// run with balanceBusyWorkers on and off, it prints per worker how many of each it served and
// the fast route's latency.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const port = 20000 + Math.floor(Math.random() * 20000);
const balance = process.env.BALANCE === '1';
const config = `${ROOT}bench/${balance ? 'balance-on' : 'balance-off'}.config.mjs`;
const child = spawn(process.execPath, [`${ROOT}dist/server/cli.js`, '-C', config, '-w', '2', '-q', '-e', 'production', '-b', `tcp://127.0.0.1:${port}`, `${ROOT}test/fixtures/cpu-app.ts`], { stdio: 'ignore' });

async function ready(): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return;
    } catch {
      /* booting */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('tspuma -w 2 did not answer');
}

function count(into: Map<string, number>) {
  return (client: { on: (e: string, f: (...a: unknown[]) => void) => void }) =>
    client.on('body', (body: unknown) => {
      const pid = String(body).trim();
      into.set(pid, (into.get(pid) ?? 0) + 1);
    });
}

try {
  await ready();
  const slow = new Map<string, number>();
  const fast = new Map<string, number>();
  const [s, f] = await Promise.all([
    autocannon({ url: `http://127.0.0.1:${port}/cpu?ms=20`, connections: 1, duration: 8, setupClient: count(slow) as never }),
    autocannon({ url: `http://127.0.0.1:${port}/`, connections: 4, duration: 8, setupClient: count(fast) as never }),
  ]);
  const pids = [...new Set([...slow.keys(), ...fast.keys()])];
  process.stdout.write(`skewed load on tspuma -w 2, balanceBusyWorkers ${balance ? 'on' : 'off'}, 8 s:\n`);
  for (const pid of pids) process.stdout.write(`  ${pid}: ${slow.get(pid) ?? 0} /cpu requests, ${fast.get(pid) ?? 0} fast requests\n`);
  process.stdout.write(`  fast route: ${Math.round(f.requests.average)} req/s, p50 ${f.latency.p50} ms, p99 ${f.latency.p99} ms; /cpu: ${Math.round(s.requests.average)} req/s\n`);
} finally {
  child.kill('SIGTERM');
}
