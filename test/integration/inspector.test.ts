// Integration: `tspuma -w 2 --debug --inspect=…`: discovery lists every process and attaches
// through its proxy, live stacks of a spinning worker, the hung-worker autopsy, profiles, heap
// snapshots, and what stays closed (non-loopback, foreign Host headers, missing tokens).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import CDP from 'chrome-remote-interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import type { ListEntry } from '../../inspector/discovery.js';
import { allBooted, boot, controlUrl, discoveryUrl, inspectorUrl, killAll, killThese, run, ROOT, type Booted, type Spawned } from '../helpers/cli.js';
import { loadUntil } from '../helpers/load.js';
import { refusingPort, SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = join(ROOT, 'test/fixtures/spin-app.ts');
const TOKEN = 'inspect-token-0123456789';
/** workerTimeout and workerCheckInterval (s) of the hung-worker test. */
/** workerTimeout of the spinning-worker test: room for `inspect stack` (a node process) to start first, more on a loaded machine. */
const HANG = Math.ceil(4 * SLOWNESS);
const CHECK = 0.5;
/**
 * Requests a second of the profile-and-heap test's load: the profile alone lasts 1 s, so over 100
 * requests even on a loaded machine, where 4 connections flat out spent two cores on the load.
 */
const LOAD_RATE = 400;
/**
 * How long a request of that load may wait for its answer (autocannon's timeout, 10 s by default):
 * the requests worker 0 took are held while its heap snapshot is written, which took longer than
 * 10 s at a load average of 26 (2 errors: the default timeout failed the test, not the server).
 */
const HELD_S = 60;

async function cluster(config: string, workers = 2) {
  const dir = tempDir('inspect');
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { workerCheckInterval: 1, workerShutdownTimeout: 5, ${config} };\n`);
  // Every socket on port 0: discovery, each inspector and the control app log what they bound.
  const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', String(workers), '--debug', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, APP], { TSPUMA_DUMP_DIR: join(dir, 'dumps') });
  const discovery = await discoveryUrl(s);
  const list = async () => (await okJson(await fetch(`${discovery}/json/list`), '/json/list')) as ListEntry[];
  // Workers report their inspector as they boot.
  await waitFor(async () => (await list()).length === workers + 1, `primary and ${workers} worker(s) listed`);
  await allBooted(s); // listed is not booted: a worker lists its inspector before it loads the app
  return { ...s, discovery, list, dir, control: await controlUrl(s) };
}

/**
 * Sends /spin (to worker `index`; null: any process) until process `pid` says it is spinning on
 * one. One request at a time: another worker answers 421 and the next is sent; the one that
 * spins never answers, and the app's own line says so.
 */
async function spinIn(s: Spawned, url: string, index: number | null, pid: number, seconds: number, until?: string, nap?: number, block?: number): Promise<void> {
  const query = `${index === null ? '' : `worker=${index}&`}${until === undefined ? '' : `until=${encodeURIComponent(until)}&`}${nap === undefined ? '' : `nap=${nap}&`}${block === undefined ? '' : `block=${block}&`}`;
  const line = `spin-app: pid ${pid} spinning for ${seconds} s`;
  // A spin of this call's own: the server may have spun before (single mode's shared server).
  const spins = () => s.stdout().split(line).length - 1;
  const before = spins();
  let waiting = false;
  let unexpected: string | null = null;
  const send = () => {
    waiting = true;
    const req = request(`${url}/spin?${query}seconds=${seconds}`, { headers: { connection: 'close' } }, (res) => {
      res.resume();
      if (res.statusCode !== 421) unexpected = `/spin answered ${res.statusCode}`;
      waiting = false;
    });
    req.on('error', () => undefined); // the spinning worker is killed later
    req.end();
  };
  await waitFor(
    () => {
      if (unexpected) throw new Error(unexpected);
      if (spins() > before) return true;
      if (!waiting) send();
      return false;
    },
    `${index === null ? 'the server' : `worker ${index}`} (pid ${pid}) spinning`,
    15_000,
  );
}

async function evaluateOnePlusOne(ws: string): Promise<number> {
  const client = await CDP({ target: ws, local: true });
  try {
    const { result } = await client.Runtime.evaluate({ expression: '1+1' });
    return result.value as number;
  } finally {
    await client.close();
  }
}

function localAddresses(port: number): string[] {
  // /proc/net/tcp: "sl local_address rem_address st ...", addresses as little-endian hex.
  const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  const out: string[] = [];
  for (const row of rows) {
    const [, local, , st] = row.trim().split(/\s+/);
    if (!local || st !== '0A') continue; // 0A: LISTEN
    const [hex, p] = local.split(':');
    if (parseInt(p!, 16) !== port) continue;
    out.push([3, 2, 1, 0].map((i) => parseInt(hex!.slice(i * 2, i * 2 + 2), 16)).join('.'));
  }
  return out;
}

// One -w 2 --debug cluster for these: the cases before the last two leave it as they found it,
// the respawn case kills worker 1, the last lets worker 0 spin until workerTimeout kills it (a
// cluster of its own cost each a -d -w 2 boot, about 0.7 s of CPU, and the spinning case's a -d
// -w 1 boot of the .ts app). workerTimeout is the spinning case's HANG: the heap snapshot of the
// first case is spared its missed check-ins (the watchdog's snapshot rule), the others send none
// late. The autopsy's own bound (workerAutopsyTimeout, 2 s by default) scaled by the load: at a
// load of 22-30 its live stack took longer, the line was 'Autopsy of worker 0 (PID: …) failed: …'
// and no [hang] dump came (the test waited for it 40 s).
// Its cases run in order (it.sequential); the single-mode case beside them (both groups { concurrent:
// true }): each group ends its own processes. The file mostly waits (boots, workerTimeout, a spin):
// in turn it took 16.4 s of a quiet run's wall for 6.3 s of CPU.
afterAll(killAll);
describe('inspector tooling on one cluster', { concurrent: true }, () => {
  let s: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    s = await cluster(`workerCheckInterval: ${CHECK}, workerTimeout: ${HANG}, workerAutopsyTimeout: ${2 * SLOWNESS}`);
  });
  afterAll(() => killThese(s));

  it.sequential('profile and heap: DevTools files with their top-level keys, taken under load without failing a request', async () => {
    const out = tempDir('prof');
    const result = await loadUntil(s.url, 4, 20, async () => {
      const profile = run(['inspect', 'profile', '--worker', '1', '--seconds', '1', '--out', join(out, 'w1.cpuprofile'), '--url', s.discovery]);
      expect(await profile.exited).toBe(0);
      const heap = run(['inspect', 'heap', '--worker', '0', '--out', join(out, 'w0.heapsnapshot'), '--url', s.discovery]);
      expect(await heap.exited).toBe(0);
    }, LOAD_RATE, HELD_S);
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.requests.total).toBeGreaterThan(100);
    const cpu = JSON.parse(readFileSync(join(out, 'w1.cpuprofile'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(cpu)).toEqual(expect.arrayContaining(['nodes', 'startTime', 'endTime', 'samples', 'timeDeltas']));
    expect((cpu.nodes as unknown[]).length).toBeGreaterThan(1);
    const snap = JSON.parse(readFileSync(join(out, 'w0.heapsnapshot'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(snap)).toEqual(expect.arrayContaining(['snapshot', 'nodes', 'edges', 'strings']));
    expect((snap.snapshot as { node_count: number }).node_count).toBeGreaterThan(1000);
  });

  it.sequential('stays closed: loopback-only sockets, foreign Host headers refused, clear errors for a missing server or worker', async () => {
    const entries = await s.list();
    for (const port of [Number(new URL(s.discovery).port), ...entries.map((e) => Number(new URL(e.tspuma.direct).port))]) {
      expect(localAddresses(port)).toEqual(['127.0.0.1']);
    }
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 gets nothing.
    const rebound = await new Promise<number>((resolve, reject) => {
      request(`${s.discovery}/json/list`, { headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(403);
    const missing = run(['inspect', 'stack', '--worker', '7', '--url', s.discovery]);
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toMatch(/TSPUMA_ERR_INSPECT_TARGET: No inspector target worker 7 .*there are: tspuma primary \(pid \d+\), tspuma worker 0/);
    const nothing = await refusingPort();
    const nobody = run(['inspect', 'list', '--url', `http://127.0.0.1:${nothing.port}`]);
    expect(await nobody.exited).toBe(1);
    nothing.release();
    expect(nobody.stderr()).toMatch(/TSPUMA_ERR_INSPECT_DISCOVERY: Cannot read the inspector list at http:\/\/127\.0\.0\.1:\d+\/json\/list \(--url\).*--inspect or --debug/);
  });

  it.sequential('-w 2 --debug: discovery lists the primary and both workers; each evaluates 1+1; a respawned worker keeps its id', async () => {
    const entries = await s.list();
    expect(entries.map((e) => e.id)).toEqual(['tspuma-primary', 'tspuma-worker-0', 'tspuma-worker-1']);
    expect(entries.map((e) => e.title)).toEqual([expect.stringMatching(/^tspuma primary \(pid \d+\)$/), expect.stringMatching(/^tspuma worker 0 \(pid \d+\)$/), expect.stringMatching(/^tspuma worker 1 \(pid \d+\)$/)]);
    // Each worker's own inspector, on the port it bound and logged (port 0: every one its own;
    // the base+2+i layout of a fixed base is test/unit/inspector-open.test.ts's); the primary's
    // target is discovery's bridge, on discovery's port.
    expect(entries.map((e) => e.tspuma.direct)).toEqual([await inspectorUrl(s, null), await inspectorUrl(s, 0), await inspectorUrl(s, 1)]);
    expect(entries[0]!.tspuma.direct).toBe(`${s.discovery.replace(/^http/, 'ws')}/tspuma-primary`);
    expect(new Set(entries.map((e) => new URL(e.tspuma.direct).port)).size).toBe(3);
    // Every process through discovery's proxy under its stable id, the primary too: the proxy runs
    // in a thread of its own, so it carries the resume of the primary's own pause.
    for (const e of entries) {
      expect(e.webSocketDebuggerUrl).toBe(`${s.discovery.replace(/^http/, 'ws')}/${e.id}`);
      expect(e.devtoolsFrontendUrl).toContain(`ws=${e.webSocketDebuggerUrl.slice('ws://'.length)}`);
      expect(await evaluateOnePlusOne(e.webSocketDebuggerUrl)).toBe(2); // through the proxy
      expect(await evaluateOnePlusOne(e.tspuma.direct)).toBe(2);
    }
    const version = (await (await fetch(`${s.discovery}/json/version`)).json()) as Record<string, string>;
    expect(version.Browser).toMatch(/^tspuma\/.* node\.js\/v\d+/);
    // Boot output: one DevTools URL per process.
    expect(s.lines().filter((l) => String(l.msg).startsWith('* DevTools for '))).toHaveLength(3);

    const old = entries[2]!.tspuma.pid;
    process.kill(old, 'SIGKILL');
    const fresh = await waitFor(async () => (await s.list()).find((e) => e.id === 'tspuma-worker-1' && e.tspuma.pid !== old), 'worker 1 respawned and listed', 15_000);
    expect(fresh.title).toBe(`tspuma worker 1 (pid ${fresh.tspuma.pid})`);
    expect(await evaluateOnePlusOne(fresh.webSocketDebuggerUrl)).toBe(2);
    const table = run(['inspect', 'list', '--url', s.discovery]);
    expect(await table.exited).toBe(0);
    expect(table.stdout()).toMatch(/^ID\s+PID\s+WORKER\s+TITLE\s+DEVTOOLS$/m);
    expect(table.stdout()).toMatch(new RegExp(`^tspuma-worker-1\\s+${fresh.tspuma.pid}\\s+1\\s+tspuma worker 1`, 'm'));
  });

  it.sequential('a spinning worker: `inspect stack` shows the frame with `end`; the autopsy names it and the path; it is killed after the autopsy and replaced at once', async () => {
    // The live stack is taken before workerTimeout ends the worker: HANG s leave room for it.
    const spinning = (await s.list()).find((e) => e.id === 'tspuma-worker-0')!.tspuma.pid;
    // Its loop naps 2 ms a turn: stuck all the same (no check-in, no request served), without
    // burning a core for HANG s (up to 16 s on a loaded machine).
    await spinIn(s, s.url, 0, spinning, 60, undefined, 2);
    const stack = run(['inspect', 'stack', '--worker', '0', '--url', s.discovery]);
    expect(await stack.exited).toBe(0);
    expect(stack.stdout()).toMatch(/^tspuma dump #1 \[stack\] LiveStack: tspuma worker 0 \(pid \d+\) paused for a live stack$/m);
    expect(stack.stdout()).toMatch(/^\s+> #0 app {2}test\/fixtures\/spin-app\.ts:\d+:\d+\n\s+.*end=\d+/m);
    expect(stack.stdout()).toMatch(/in flight: GET \/spin\?worker=0&nap=2&seconds=60 for \d+\.\d s/);
    // The control app serves the same as JSON, behind its token.
    const viaControl = (await (await fetch(`${s.control}/stack?worker=0&token=${TOKEN}`)).json()) as Dump;
    // (Once, at a load of 20, the answer was no dump: 'Cannot read properties of undefined'. Its body says why.)
    expect(viaControl, JSON.stringify(viaControl).slice(0, 600)).toHaveProperty('frames');
    expect(viaControl.frames[viaControl.culprit]!.function).toBe('app');
    expect(viaControl.frames[viaControl.culprit]!.locals).toHaveProperty('end');
    expect((await fetch(`${s.control}/stack?worker=0`)).status).toBe(403);

    const autopsied = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith(`Autopsy of worker 0 (PID: ${spinning}) `)), 'the autopsy', 20_000);
    expect(String(autopsied.msg)).toContain(' written to ');
    // Its text went to the primary's stderr before that line went to stdout: two pipes, read apart.
    await waitFor(() => /^tspuma dump #\d+ \[hang\] /m.test(s.stderr()), 'the [hang] dump on stderr', 10_000);
    expect(s.stderr()).toMatch(new RegExp(`^tspuma dump #\\d+ \\[hang\\] WorkerTimeout: Worker 0 \\(PID: \\d+\\) failed to check in within ${HANG} seconds; terminating it \\(TSPUMA_ERR_WORKER_TIMEOUT\\)$`, 'm'));
    expect(s.stderr()).toMatch(/^\s+> #0 app {2}test\/fixtures\/spin-app\.ts:\d+:\d+\n\s+.*end=\d+/m);
    // In flight since about the last check-in: workerTimeout, less a check interval, and timer lag,
    // which grows with the load (31.7 s for a HANG of 25 at a load of 25: the primary's timers late).
    const inFlight = Number(/in flight: GET \/spin\?worker=0&nap=2&seconds=60 for (\d+\.\d) s/.exec(s.stderr())?.[1]);
    expect(inFlight).toBeGreaterThanOrEqual(HANG - 1);
    expect(inFlight).toBeLessThan(HANG + 4 * SLOWNESS);
    const files = readdirSync(join(s.dir, 'dumps')).filter((n) => n.endsWith('.json'));
    const hang = files.map((n) => JSON.parse(readFileSync(join(s.dir, 'dumps', n), 'utf8')) as Dump).find((d) => d.kind === 'hang')!;
    expect(hang.pid).toBe(spinning);
    expect(hang.inFlight![0]!.url).toBe('/spin?worker=0&nap=2&seconds=60');

    // Killed after the autopsy, and replaced at once (no boot backoff); the replacement serves.
    const autopsyLine = await waitFor(() => s.lines().find((l) => String(l.msg).startsWith(`Autopsy of worker 0 (PID: ${spinning}) written to `)), 'autopsy line');
    expect(autopsyLine.msg).toBe(`Autopsy of worker 0 (PID: ${spinning}) written to ${join(s.dir, 'dumps', files.find((n) => n.includes(`-${spinning}-`))!)}`);
    const fresh = await waitFor(async () => (await s.list()).find((e) => e.id === 'tspuma-worker-0' && e.tspuma.pid !== spinning), 'worker 0 replaced', 20_000);
    await waitFor(() => s.lines().find((l) => l.msg === `- Worker 0 (PID: ${fresh.tspuma.pid}) booted, phase 0`), 'replacement booted', 20_000);
    const own = s.lines().filter((l) => l.pid === s.proc.pid).map((l) => String(l.msg));
    expect(own.indexOf(`- Worker 0 (PID: ${fresh.tspuma.pid}) booting, phase 0`)).toBeGreaterThan(own.indexOf(autopsyLine.msg as string));
    expect(own.some((m) => m.startsWith('Worker 0 failed to boot'))).toBe(false);
    const pids = new Set<number>();
    await waitFor(async () => {
      const res = await fetch(s.url, { headers: { connection: 'close' } });
      pids.add(Number((await res.text()).split(' ')[1]));
      return pids.has(fresh.tspuma.pid);
    }, 'the replacement answering', 10_000);
  });
});

describe('inspector tooling in single mode', { concurrent: true }, () => {
  // One -d --inspect server for both cases, in turn (beside the cluster's group): the first leaves
  // it idle and serving, the second's blocked loop is a request of its own (a -d --inspect .ts boot
  // each cost about 0.3 s of CPU).
  let single: Promise<Booted> | undefined;
  const singleServer = () => (single ??= boot(['--debug', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', APP]));
  afterAll(async () => killThese(await single));

  it.sequential('single mode with --debug: `inspect stack` pauses the app mid-spin (discovery answers from its own thread) and resumes it', async () => {
    const s = await singleServer();
    const discovery = await discoveryUrl(s);
    // The process's main thread is busy: only a discovery thread of its own can still answer.
    // Spinning until `inspect stack` (a node process of its own) has started, attached and
    // answered: the test ends the spin then (a fixed 3 s spin burnt a core for 3 s, 12 s at load).
    const release = join(tempDir('spin'), 'release');
    await spinIn(s, s.url, null, s.proc.pid!, 60, release);
    const stack = run(['inspect', 'stack', '--url', discovery]);
    expect(await stack.exited).toBe(0);
    writeFileSync(release, '');
    expect(stack.stdout()).toMatch(/\[stack\] LiveStack: tspuma \(pid \d+\) paused for a live stack/);
    expect(stack.stdout()).toMatch(/^\s+> #0 app {2}test\/fixtures\/spin-app\.ts:\d+:\d+\n\s+.*end=\d+/m);
    // Resumed: it finishes the spin and still serves.
    expect((await fetch(s.url)).status).toBe(200);
    // Idle now: said so, whether its next callback came (a timer) or never did.
    const idle = run(['inspect', 'stack', '--url', discovery]);
    expect(await idle.exited).toBe(0);
    expect(idle.stdout()).toMatch(/idle in its event loop/);
    expect(idle.stdout()).not.toMatch(/spin-app\.ts/);
    expect((await fetch(s.url)).status).toBe(200);
  });

  it.sequential('single mode: a loop blocked outside JavaScript (a sync child process each turn) pauses late, and `inspect stack` shows its frames as running, not as an idle process\'s next callback', async () => {
    const s = await singleServer();
    const discovery = await discoveryUrl(s);
    const release = join(tempDir('block'), 'release');
    // Each turn sleeps 400 ms in spawnSync: the pause waits for it to return (over BUSY_PAUSE_MS).
    await spinIn(s, s.url, null, s.proc.pid!, 60, release, undefined, 400);
    // Asked once the loop has not turned for a second (BLOCKED_TURN_MS), as for a hung worker.
    await waitFor(() => s.stdout().includes(`spin-app: pid ${s.proc.pid} blocked for over 1.2 s`), 'the loop blocked for over a second', 15_000);
    const stack = run(['inspect', 'stack', '--url', discovery]);
    expect(await stack.exited).toBe(0);
    writeFileSync(release, '');
    expect(stack.stdout()).toMatch(/\[stack\] LiveStack: tspuma \(pid \d+\) paused for a live stack/);
    expect(stack.stdout()).not.toMatch(/idle in its event loop/);
    expect(stack.stdout()).toMatch(/^\s+> #\d+ app {2}test\/fixtures\/spin-app\.ts:\d+:\d+\n\s+.*end=\d+/m);
    expect((await fetch(s.url)).status).toBe(200);
  });
});
