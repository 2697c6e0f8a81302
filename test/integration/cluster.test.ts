// Integration: `tspuma -w 2` with real clients and signals: both workers serve, check-ins
// advance, restarts under load fail nothing, dead and hung workers are replaced.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, controlUrl, killAll, killThese, run, ROOT, type Booted } from '../helpers/cli.js';
import { loadUntil } from '../helpers/load.js';
import { fetchFresh, SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { alive } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

/**
 * One plain cluster, with a pidfile and a state file, booted by the first case that asks: the
 * serving case, a phased restart, a hot restart, then a SIGKILLed worker and, last, a SIGTERM to
 * the primary. Each case reads what it needs from where the case before left it (the phase, the
 * requests served so far); a cluster of its own cost each a -w 2 boot and its workers.
 */
const files = tempDir('files');
const pidfile = join(files, 'tspuma.pid');
const state = join(files, 'tspuma.state');
let loaded: ReturnType<typeof cluster> | undefined;
const loadCluster = () => (loaded ??= cluster('', ['--pidfile', pidfile, '-S', state]));
afterAll(killAll);

const APP = join(ROOT, 'test/fixtures/cluster-app.mjs');
const TOKEN = 'test-token-0123456789';
/**
 * Requests a second of the load tests (autocannon's overallRate): each of 10 connections sends one
 * every 33 ms through a restart or a respawn, where flat out they spent the machine's cores on the
 * load (2,000 requests and more a test).
 */
const LOAD_RATE = 300;

interface ClusterStats {
  workers: number;
  phase: number;
  booted_workers: number;
  worker_status: { pid: number; index: number; booted: boolean; phase: number; last_checkin: string | null }[];
}

async function cluster(extraConfig = '', args: string[] = [], booted = 2): Promise<Booted & { stats: () => Promise<ClusterStats>; control: string }> {
  const dir = tempDir('cluster');
  const config = join(dir, 'tspuma.config.mjs');
  // Check-ins every 0.5 s: the stats a test waits on are at most that old. workerTimeout (4 s) and
  // workerShutdownTimeout (5 s) scaled by the load: a healthy worker starved of a CPU for 4 s was
  // killed as hung, and an old one still finishing requests at a restart's 5 s was killed, both
  // failing the requests the load cases count.
  writeFileSync(config, `export default { workerCheckInterval: 0.5, workerTimeout: ${4 * SLOWNESS}, workerShutdownTimeout: ${5 * SLOWNESS}, ${extraConfig} };\n`);
  // The control app binds port 0 too: its boot line says where it listens.
  const s = await boot(['-C', config, '-w', '2', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, ...args, APP]);
  const control = await controlUrl(s);
  const stats = async () => (await okJson(await fetchFresh(`${control}/stats?token=${TOKEN}`), '/stats')) as ClusterStats;
  // The boot line comes with the first booted worker; a test that picks a worker by its stats
  // entry needs them all booted (a worker killed while booting is a boot failure, not a death).
  await waitFor(async () => (await stats()).booted_workers >= booted, `${booted} worker(s) booted`, 20_000);
  return { ...s, stats, control };
}

/** Requests served by all workers, from their last check-ins. */
function served(stats: ClusterStats): number {
  return stats.worker_status.reduce((n, w) => n + ((w as { last_status?: { requests_count?: number } }).last_status?.requests_count ?? 0), 0);
}

/** pid answering a request on a fresh connection; throws when none answers within 3 s (scaled by the load, SLOWNESS). */
async function pidOf(url: string): Promise<number> {
  const res = await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000 * SLOWNESS) });
  const text = await res.text();
  const m = /^pid (\d+)\n$/.exec(text);
  if (res.status !== 200 || !m) throw new Error(`expected "pid N" from ${url}, got ${res.status} ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/**
 * Two groups side by side ({ concurrent: true }): the shared cluster's cases in order
 * (it.sequential), and the cases with a cluster of their own beside them, each ending its own. In
 * turn the file took 13.5 s of a quiet run's wall for 4.1 s of CPU, mostly waiting on restarts and a
 * workerTimeout.
 */
describe('cluster mode: one cluster, case after case', { concurrent: true }, () => {
  it.sequential('serves from both workers; stats show 2 booted workers with last_checkin advancing; the token is required; the pidfile and the state file are written', async () => {
    const s = await loadCluster();
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(s.proc.pid));
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ pid: s.proc.pid, control_url: s.control.replace('http', 'tcp'), control_auth_token: TOKEN });
    const seen = new Set<number>();
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(await pidOf(s.url));
    expect(seen.size).toBe(2);
    const first = await s.stats();
    expect(first.booted_workers).toBe(2);
    expect(first.worker_status.map((w) => w.pid).sort()).toEqual([...seen].sort());
    const before = first.worker_status.map((w) => w.last_checkin);
    await waitFor(async () => {
      const now = (await s.stats()).worker_status.map((w) => w.last_checkin);
      return now.every((t, i) => t !== before[i]);
    }, 'both check-ins to advance', 5000);
    expect((await fetch(`${s.control}/stats`)).status).toBe(403);
    expect((await fetch(`${s.control}/stats?token=wrong-token-000000`)).status).toBe(403);
    const ctl = run(['ctl', 'stats', '-S', state]);
    expect(await ctl.exited).toBe(0);
    expect(JSON.parse(ctl.stdout()).booted_workers).toBe(2);
  });

  for (const kind of ['phased-restart', 'restart'] as const) {
    it.sequential(`${kind} under constant load fails no request`, { timeout: 120_000 * SLOWNESS }, async () => {
      const s = await loadCluster();
      const start = await s.stats();
      const oldPids = start.worker_status.map((w) => w.pid);
      // Load before, during and after the restart: stopped once the new workers have served
      // 150 requests between them (their counts start at 0), at most 90 s in all (a bound for a
      // stuck restart on a loaded machine, not a speed target), LOAD_RATE a second.
      const result = await loadUntil(`${s.url}/slow?ms=5`, 10, 90, async () => {
        await waitFor(async () => served(await s.stats()) > served(start) + 150, 'the load to be established', 30_000);
        const ctl = run(['ctl', kind, '--wait', '--control-url', s.control.replace('http', 'tcp'), '--control-token', TOKEN]);
        expect(await ctl.exited).toBe(0);
        await waitFor(async () => {
          const st = await s.stats();
          return st.worker_status.every((w) => w.phase === start.phase + 1) && served(st) > 150;
        }, 'the new workers serving the load', 30_000);
      }, LOAD_RATE);
      const after = await s.stats();
      expect(after.phase).toBe(start.phase + 1);
      expect(after.worker_status.map((w) => w.pid).some((p) => oldPids.includes(p))).toBe(false);
      console.log(`${kind}: ${result.requests.total} requests, ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
      expect(result.requests.total).toBeGreaterThan(400);
      // Puma's own test tolerates 0.2%; we tolerate none. autocannon ignores `Connection: close`
      // and reuses the connection, so this also proves the lingering close never resets one.
      expect([result.errors, result.non2xx, result.timeouts]).toEqual([0, 0, 0]);
    });
  }

  it.sequential('replaces a worker killed with SIGKILL at once: forked as its exit is seen, with no backoff, and serving again under load; at SIGTERM the primary exits 0 and removes its pidfile and state file', { timeout: 120_000 * SLOWNESS }, async () => {
    const s = await loadCluster();
    const start = await s.stats();
    const victim = start.worker_status[0]!;
    const result = await loadUntil(s.url, 10, 90, async () => {
      await waitFor(async () => served(await s.stats()) > served(start) + 150, 'the load to be established', 30_000);
      process.kill(victim.pid, 'SIGKILL');
      await waitFor(async () => {
        const st = await s.stats();
        return st.booted_workers === 2 && !st.worker_status.some((w) => w.pid === victim.pid);
      }, 'a replacement worker', 15_000, 50);
    }, LOAD_RATE);
    console.log(`kill -9: ${result.requests.total} requests, ${result.errors} errors, ${result.non2xx} non-2xx`);
    // The primary's line names the dead worker's pid as workerPid; `pid` stays the line's writer.
    const own = s.lines().filter((l) => l.pid === s.proc.pid);
    const died = own.findIndex((l) => String(l.msg).startsWith(`Worker 0 (PID: ${victim.pid}) `) && String(l.msg).includes(' died ('));
    expect(own[died]).toMatchObject({ pid: s.proc.pid, worker: 0, workerPid: victim.pid });
    // Its replacement is forked in the same turn as the exit is seen (the primary's next line),
    // not after a boot backoff: a wall-clock bound would measure the machine's load instead.
    expect(String(own[died + 1]?.msg)).toMatch(new RegExp(`^- Worker 0 \\(PID: \\d+\\) booting, phase ${start.phase}$`));
    expect(own.some((l) => /^Worker 0 failed to boot/.test(String(l.msg)))).toBe(false);
    // Only requests in flight on the killed worker may fail: at most one per connection.
    expect(result.errors + result.non2xx).toBeLessThanOrEqual(10);
    // The files the serving case saw written are still the primary's, through restarts and respawns.
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(s.proc.pid));
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect([existsSync(pidfile), existsSync(state)]).toEqual([false, false]);
  });
});

describe('cluster mode: clusters of their own', { concurrent: true }, () => {
  it('kills a worker stuck in a synchronous loop after workerTimeout, replaces it, and the other serves throughout; leaves no orphans: when the primary is killed with SIGKILL its workers, the replacement too, exit', { timeout: 120_000 * SLOWNESS }, async ({ onTestFinished }) => {
    // A 2 s timeout on a quiet machine: four missed check-ins, as 4 s were at the 1 s interval this
    // test had. Scaled by the load (SLOWNESS, 1 to 8): at a load of 27-31 a healthy worker's or its
    // fresh replacement's check-ins came over 2 s apart, it was killed too, and a third pid answered
    // (findings tests9.1, fix7.3).
    const timeout = 2 * SLOWNESS;
    const killLine = new RegExp(`Worker \\d \\(PID: \\d+\\) failed to check in within ${String(timeout).replace('.', '\\.')} seconds; terminating it`);
    const s = await cluster(`workerTimeout: ${timeout}`);
    onTestFinished(() => killThese(s));
    const pids = (await s.stats()).worker_status.map((w) => w.pid);
    // Stuck napping 2 ms a turn: no check-in, nothing served, and no core burnt until the kill.
    void fetch(`${s.url}/spin?nap=2`, { headers: { connection: 'close' } }).catch(() => undefined);
    // The stuck worker is the one whose last check-in (sent as the request entered the app) names
    // /spin: a check-in over 1 s old, how it was found before, is also a healthy worker's at a load
    // of 30 (findings fix7.3: the other worker taken for the stuck one).
    const spinning = (w: ClusterStats['worker_status'][number]) => (w as { last_status?: { in_flight?: { url: string }[] } }).last_status?.in_flight?.some((r) => r.url.startsWith('/spin')) === true;
    const stuck = await waitFor(async () => (await s.stats()).worker_status.find(spinning), 'a worker to say at its check-in that it took /spin', 5000);
    const other = pids.find((p) => p !== stuck.pid)!;
    // From now until the replacement has booted, fresh connections one after another, 10 ms apart:
    // each must be answered (pidOf throws after 3 s), by the other worker or, once booted, the
    // replacement. (Flat out, the loop made thousands of connections in the 2-3 s the kill and the
    // respawn take, and they were most of this case's CPU; a stuck worker handed a connection
    // fails the case at the first it gets, and 10 ms apart it still gets well over a hundred.)
    const answers: number[] = [];
    let done = false;
    let failed: unknown = null;
    const serving = (async () => {
      for (let i = 0; i < 20_000 && !done; i++) {
        answers.push(await pidOf(s.url));
        await new Promise((r) => setTimeout(r, 10));
      }
    })().catch((err: unknown) => void (failed = err));
    const servingOk = () => {
      if (failed) throw failed;
    };
    let replacement: ClusterStats['worker_status'][number] | undefined;
    try {
      await waitFor(() => {
        servingOk();
        return killLine.test(s.stdout());
      }, 'the timeout message', 30_000);
      // The kill line names the request that stuck it (sent with the check-in its entry made), and
      // says how to get its stack (S5, Q24): without --inspect no autopsy can.
      const kill = String(s.lines().find((l) => killLine.test(String(l.msg)))!.msg);
      expect(kill).toMatch(/; at its last check-in \([\d.]+ s before\) it was serving GET \/spin\?nap=2 \(in the app [\d.]+ s then\); its heap was \d+ of \d+ MiB \(rss \d+ MiB\); start with --inspect \(or -d\) for an autopsy of its stack before the kill$/);
      replacement = await waitFor(async () => {
        servingOk();
        const st = await s.stats();
        return st.booted_workers === 2 && !st.worker_status.some((w) => w.pid === stuck.pid) ? st.worker_status.find((w) => w.pid !== other) : undefined;
      }, 'the replacement', 30_000);
    } finally {
      done = true;
    }
    await serving;
    servingOk();
    expect(answers.filter((p) => p === other).length).toBeGreaterThan(10);
    expect([...new Set(answers)].filter((p) => p !== other && p !== replacement!.pid)).toEqual([]);
    const now = (await s.stats()).worker_status.map((w) => w.pid);
    expect(now.sort()).toEqual([other, replacement!.pid].sort());
    // No orphans (a cluster of its own for this cost one more -w 2 boot): every worker, the
    // respawned one included, exits when the primary dies without a word.
    s.proc.kill('SIGKILL');
    await waitFor(() => !now.some(alive), 'the workers to exit', 10_000);
  });

  it('backs off a worker whose beforeWorkerBoot throws; the primary stays up and stats show it', async ({ onTestFinished }) => {
    const s = await cluster(`beforeWorkerBoot: [(index) => { if (index === 1) throw new Error('no database for worker ' + index); }],`, [], 1);
    onTestFinished(() => killThese(s));
    // The doubling (1 s, 2 s, ...) is test/unit/primary.test.ts's; here the real hook in a real worker.
    await waitFor(() => /Worker 1 .*failed to boot 1 time\(s\) in a row; respawning in 1 s/.test(s.stdout()), 'the first backoff line', 15_000);
    expect(s.stdout()).toMatch(/Hook beforeWorkerBoot threw: no database for worker 1/);
    const ctl = run(['ctl', 'stats', '--control-url', s.control.replace('http', 'tcp'), '--control-token', TOKEN]);
    expect(await ctl.exited).toBe(0);
    const st = JSON.parse(ctl.stdout()) as ClusterStats;
    expect(st.worker_status.find((w) => w.index === 0)!.booted).toBe(true);
    expect(st.worker_status.find((w) => w.index === 1)!.booted).toBe(false);
    expect(s.proc.exitCode).toBeNull();
  });
});
