// The cluster primary with a fake fork and a hand-driven clock: boot backoff, giving up on a
// deploy that never boots, boot and check-in deadlines, the restart lock, and restarts that
// end with one generation serving (rolled back or forward).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { PrimaryMessage } from '../../server/cluster/messages.js';
import { WORKER_BINDS_ENV, WORKER_BOOT_FAILURES_ENV, WORKER_PHASE_ENV, WORKER_INDEX_ENV } from '../../server/shared-names.js';
import { Primary } from '../../server/cluster/primary.js';
import type { DevTools } from '../../server/cluster/primary-deps.js';
import { SNAPSHOT_QUIET_S } from '../../server/cluster/watchdog.js';
import type { Dump } from '../../diagnostics/model.js';
import { heapFlagOf, type ForkedWorker } from '../../server/cluster/worker-handle.js';
import { TspumaError } from '../../server/errors.js';
import { DEFAULTS } from '../../server/option-records.js';
import { resolveOptions } from '../../server/options.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

/** Failed boots in a row of one index that end a primary no worker has booted in, by default. */
const BOOT_ATTEMPTS = DEFAULTS.workerBootAttempts;

/** A worker process that does what the test tells it to. */
class FakeWorker extends EventEmitter implements ForkedWorker {
  static nextPid = 1000;
  readonly process: { pid: number; kill: (signal?: NodeJS.Signals) => boolean };
  readonly sent: PrimaryMessage[] = [];
  readonly signals: string[] = [];
  exited = false;
  /** Not listening for messages yet (a process still starting): what it is sent is lost. */
  deaf = false;

  constructor(
    readonly index: number,
    readonly phase: number,
  ) {
    super();
    this.process = {
      pid: FakeWorker.nextPid++,
      kill: (signal = 'SIGTERM') => {
        this.signals.push(signal);
        if (signal === 'SIGKILL') queueMicrotask(() => this.exit(null, 'SIGKILL'));
        return true;
      },
    };
  }
  isConnected(): boolean {
    return !this.exited;
  }
  send(message: PrimaryMessage): boolean {
    this.sent.push(message);
    // A booted worker stops gracefully when told to (a deaf one's node has not started tspuma's code: the message is lost).
    if (message.type === 'stop' && !this.deaf) queueMicrotask(() => this.exit(0, null));
    return true;
  }
  boot(): void {
    this.emit('message', { tspuma: 1, type: 'booted', index: this.index, urls: ['http://127.0.0.1:1'] });
  }
  checkin(): void {
    this.emit('message', { tspuma: 1, type: 'checkin', index: this.index, stats: {} });
  }
  /** What worker.ts does when the app throws at import: report, then exit 1. */
  failBoot(message = 'Loading app /srv/app.ts failed: Error: no DATABASE_URL'): void {
    this.emit('message', { tspuma: 1, type: 'boot-failed', index: this.index, code: 'TSPUMA_ERR_APP_LOAD', message });
    this.exit(1, null);
  }
  exit(code: number | null, signal: string | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal);
  }
}

interface LogLine {
  level: string;
  msg: string;
}

function fakeLog(lines: LogLine[]): Logger {
  const at = (level: string) => (a: unknown, b?: unknown) => lines.push({ level, msg: typeof a === 'string' ? a : String(b) });
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), child: () => log };
  return log as unknown as Logger;
}

async function setup(values: Record<string, unknown> = {}, devtools: DevTools | null = null) {
  const options = resolveOptions([{ source: 'test', values: { workers: 2, workerBootTimeout: 10, workerCheckInterval: 1, workerTimeout: 60, workerShutdownTimeout: 5, ...values }, fromString: false }]);
  const clock = new FakeClock();
  const forks: FakeWorker[] = [];
  const lines: LogLine[] = [];
  /** The environment each fork was given, by fork. */
  const envs = new Map<FakeWorker, Record<string, string>>();
  const fork = (env: Record<string, string>) => {
    const w = new FakeWorker(Number(env[WORKER_INDEX_ENV]), Number(env[WORKER_PHASE_ENV]));
    forks.push(w);
    envs.set(w, env);
    return w;
  };
  const primary = new Primary(options, fakeLog(lines), { fork, clock, bindListeners: async () => [], devtools });
  await primary.start();
  /** The newest fork of an index. */
  const last = (index: number) => forks.filter((w) => w.index === index).at(-1)!;
  /** Workers alive now, as index:phase, sorted. */
  const alive = () =>
    forks
      .filter((w) => !w.exited)
      .map((w) => `${w.index}:${w.phase}`)
      .sort();
  /**
   * The primary's current worker of each index, as index:phase and which fork it is (the n-th fork
   * of the test, from 0): what stats, the control app and the next restart take as serving.
   */
  const current = () =>
    [...primary.current.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, h]) => `${index}:${h.phase}:#${forks.findIndex((w) => w.process.pid === h.pid)}`);
  return { primary, clock, forks, envs, lines, last, alive, current };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * A booted worker checks in with `stats`, dies of `signal` `afterMs` later: the primary's death
 * line, and the worker's pid it should name.
 */
async function deathLine(stats: Record<string, unknown>, afterMs: number, signal: NodeJS.Signals): Promise<{ msg: string | undefined; pid: number }> {
  const { clock, forks, lines } = await setup();
  forks[0]!.boot();
  forks[0]!.emit('message', { tspuma: 1, type: 'checkin', index: 0, stats });
  await clock.advance(afterMs);
  forks[0]!.exit(null, signal);
  await settle();
  return { msg: lines.find((l) => l.msg.includes(' died ('))?.msg, pid: forks[0]!.process.pid };
}

describe('Primary: what a worker was doing when it died', () => {
  it("a booted worker killed by SIGABRT (Node's out-of-memory abort): the line quotes both of node 20's FATAL ERROR wordings and says the --max-old-space-size cap beside V8's limit, with the requests and heap of its last check-in (S4.2, T4)", async () => {
    vi.stubEnv('NODE_OPTIONS', '--max-old-space-size=48');
    onTestFinished(() => void vi.unstubAllEnvs());
    const { msg, pid } = await deathLine({ running: 1, in_flight: [{ method: 'GET', url: '/render/p7', ms: 120 }], rss_bytes: 150 * 1048576, heap_used_bytes: 62 * 1048576, heap_limit_bytes: 64 * 1048576 }, 1500, 'SIGABRT');
    expect(msg).toBe(
      "Worker 0 (PID: " + pid + ") died (SIGABRT); respawning: Node aborts so when the heap limit is reached (out of memory: node's 'FATAL ERROR: Reached heap limit …' or 'FATAL ERROR: Ineffective mark-compacts near heap limit …', both ending 'JavaScript heap out of memory', on the worker's stderr) or on a fatal native error; at its last check-in (1.5 s before) it was serving GET /render/p7 (in the app 0.1 s then); its heap was 62 of 64 MiB (rss 150 MiB; V8's limit is the old space's 48 MiB (--max-old-space-size=48 in NODE_OPTIONS) plus the young generation)",
    );
  });

  it("a booted worker killed by SIGTRAP (V8's own fatal error: a failed CHECK, an invalid size): the line says V8 stopped it, what it printed, and that its pause at the heap limit under a debugger session can end so", async () => {
    const { msg, pid } = await deathLine({ running: 0, in_flight: [], rss_bytes: 55 * 1048576, heap_used_bytes: 7 * 1048576, heap_limit_bytes: 72 * 1048576 }, 4900, 'SIGTRAP');
    expect(msg).toBe(
      "Worker 0 (PID: " + pid + ") died (SIGTRAP); respawning: V8 ends a process so at a fatal error of its own ('# Fatal error in …' on the worker's stderr): 'Fatal JavaScript invalid size error' (an array, string or Map grown past the length V8 allows) or a failed internal check ('# Check failed: …'), as V8's pause at the heap limit can fail while a debugger session is enabled (-d, a probe set): then the worker was out of memory; at its last check-in (4.9 s before) no request was in the app; its heap was 7 of 72 MiB (rss 55 MiB)",
    );
  });

  it("a booted worker killed by a SIGKILL tspuma did not send: the line names who does that (the OOM killer, a container limit, a supervisor, kill -9) and what the worker was serving and its rss at its last check-in (N14)", async () => {
    const { msg, pid } = await deathLine({ running: 1, in_flight: [{ method: 'GET', url: '/users/1', ms: 40 }], rss_bytes: 97 * 1048576, heap_used_bytes: 30 * 1048576, heap_limit_bytes: 2048 * 1048576 }, 800, 'SIGKILL');
    expect(msg).toBe(
      "Worker 0 (PID: " + pid + ") died (SIGKILL); respawning: tspuma did not send it; the kernel's out-of-memory killer (`dmesg` or `journalctl -k` says so), a container's memory limit, a supervisor or a kill -9 did; at its last check-in (0.8 s before) it was serving GET /users/1 (in the app 0.0 s then); its heap was 30 of 2048 MiB (rss 97 MiB)",
    );
  });

  it('reads the old-space cap from node\'s command line before NODE_OPTIONS, in each spelling node takes, and none when neither sets it', () => {
    expect(heapFlagOf(['--max-old-space-size=64'], '--max-old-space-size=32')).toEqual({ mib: 64, from: 'the node command line' });
    expect(heapFlagOf([], '--enable-source-maps --max_old_space_size=96')).toEqual({ mib: 96, from: 'NODE_OPTIONS' });
    expect(heapFlagOf(['--max-old-space-size', '128'], undefined)).toEqual({ mib: 128, from: 'the node command line' });
    expect(heapFlagOf(['--inspect'], '--max-semi-space-size=16')).toBeNull();
  });
});

describe('Primary: a stop sent before a worker listens for it', () => {
  it('goes again at its hello (and at its boot), since node drops a message no listener takes: a stop as the workers start does not wait for workerShutdownTimeout (U3)', async () => {
    const { primary, forks, clock } = await setup();
    for (const w of forks) w.deaf = true;
    const stopped = primary.stop();
    await settle();
    expect(forks.map((w) => w.sent.map((m) => m.type))).toEqual([['stop'], ['stop']]);
    for (const w of forks) w.deaf = false;
    forks[0]!.emit('message', { tspuma: 1, type: 'probe-hello', index: 0 });
    forks[1]!.boot(); // booted before its hello was seen
    await settle();
    expect(forks.map((w) => w.sent.filter((m) => m.type === 'stop').length)).toEqual([2, 2]);
    await clock.advance(0);
    await stopped;
    expect(forks.map((w) => [w.exited, w.signals])).toEqual([[true, []], [true, []]]);
  });
});

describe('Primary: boot', () => {
  it('forks one worker per index with its index and phase 0; stats count the booted ones', async () => {
    const { primary, forks } = await setup();
    expect(forks.map((w) => `${w.index}:${w.phase}`)).toEqual(['0:0', '1:0']);
    forks[0]!.boot();
    expect(primary.stats()).toMatchObject({ workers: 2, phase: 0, booted_workers: 1, old_workers: 0 });
    forks[1]!.boot();
    expect(primary.stats()).toMatchObject({ booted_workers: 2 });
  });

  it('respawns a worker that fails to boot after 1 s, then 2 s, and resets the backoff once it boots', async () => {
    const { clock, forks, last, lines } = await setup();
    forks[0]!.boot();
    forks[1]!.failBoot();
    await clock.advance(999);
    expect(forks).toHaveLength(2);
    await clock.advance(1);
    expect(forks).toHaveLength(3);
    last(1).failBoot();
    await clock.advance(1999);
    expect(forks).toHaveLength(3);
    await clock.advance(1);
    expect(forks).toHaveLength(4);
    last(1).boot();
    last(1).exit(1, null); // dies after booting: respawned at once
    await settle();
    expect(forks).toHaveLength(5);
    last(1).failBoot();
    await clock.advance(1000);
    expect(forks).toHaveLength(6);
    expect(lines.filter((l) => /failed to boot \d time\(s\) in a row; respawning in/.test(l.msg)).map((l) => l.msg.replace(/^Worker 1 failed to boot /, ''))).toEqual([
      '1 time(s) in a row; respawning in 1 s',
      '2 time(s) in a row; respawning in 2 s',
      '1 time(s) in a row; respawning in 1 s',
    ]);
  });

  it(`gives up when no worker has booted and one index failed ${BOOT_ATTEMPTS} times: the app's error, the --preload hint, exit status 1`, async () => {
    const { primary, clock, forks, last, alive } = await setup();
    for (let attempt = 1; attempt <= BOOT_ATTEMPTS; attempt++) {
      last(0).failBoot(`Loading app /srv/app.ts failed: Error: attempt ${attempt}`);
      if (attempt < BOOT_ATTEMPTS) await clock.advance(2 ** (attempt - 1) * 1000);
    }
    await settle();
    expect(primary.failure).toBeInstanceOf(TspumaError);
    expect(primary.failure!.code).toBe('TSPUMA_ERR_WORKER_BOOT');
    expect(primary.failure!.message).toContain(`worker 0 failed to boot ${BOOT_ATTEMPTS} times in a row`);
    expect(primary.failure!.message).toContain(`Error: attempt ${BOOT_ATTEMPTS}`);
    expect(primary.failure!.message).toContain('--preload');
    // Worker 1, still booting, is killed; nothing is forked any more.
    expect(await primary.stopped).toBe(1);
    expect(alive()).toEqual([]);
    const count = forks.length;
    await clock.advance(9000);
    expect(forks).toHaveLength(count);
  });

  it('workerBootAttempts 1: gives up at the first failed boot, with no backoff and no second fork of the index', async () => {
    const { primary, clock, forks, last, lines } = await setup({ workers: 1, workerBootAttempts: 1 });
    last(0).failBoot('Loading app /srv/app.ts failed: Error: attempt 1');
    await settle();
    expect(primary.failure?.code).toBe('TSPUMA_ERR_WORKER_BOOT');
    expect(primary.failure!.message).toContain('worker 0 failed to boot at its first attempt (workerBootAttempts 1); giving up.');
    expect(primary.failure!.message).toContain('Error: attempt 1');
    expect(lines.map((l) => l.msg).filter((m) => /respawning in/.test(m))).toEqual([]);
    expect(await primary.stopped).toBe(1);
    await clock.advance(9000);
    expect(forks).toHaveLength(1);
  });

  it('workerBootAttempts 5: four failed boots back off (1, 2, 4, 8 s), the fifth gives up', async () => {
    const { primary, clock, forks, last } = await setup({ workers: 1, workerBootAttempts: 5 });
    for (let attempt = 1; attempt <= 4; attempt++) {
      last(0).failBoot(`Error: attempt ${attempt}`);
      await clock.advance(2 ** (attempt - 1) * 1000);
      expect(primary.failure).toBeNull();
    }
    last(0).failBoot('Error: attempt 5');
    await settle();
    expect(primary.failure!.message).toContain('worker 0 failed to boot 5 times in a row; giving up.');
    expect(forks).toHaveLength(5);
  });

  it('with --preload on, the give-up message does not suggest it; a worker killed before booting counts as a failure', async () => {
    const { primary, clock, last } = await setup({ preload: true, workers: 1 });
    last(0).exit(null, 'SIGSEGV');
    await clock.advance(1000);
    last(0).exit(null, 'SIGSEGV');
    await clock.advance(2000);
    last(0).exit(null, 'SIGSEGV');
    await settle();
    expect(primary.failure?.code).toBe('TSPUMA_ERR_WORKER_BOOT');
    expect(primary.failure!.message).toContain('it was killed by SIGSEGV before booting');
    expect(primary.failure!.message).not.toContain('--preload');
  });

  it('once a worker has booted, boot failures keep respawning past the limit and the primary stays up', async () => {
    const { primary, clock, forks, last } = await setup();
    forks[0]!.boot();
    for (let attempt = 1; attempt <= BOOT_ATTEMPTS + 2; attempt++) {
      last(1).failBoot();
      await clock.advance(2 ** (attempt - 1) * 1000);
    }
    expect(primary.failure).toBeNull();
    expect(forks.filter((w) => w.index === 1)).toHaveLength(BOOT_ATTEMPTS + 3);
  });

  it('kills a worker that has not booted within workerBootTimeout and backs its index off', async () => {
    const { clock, forks, last } = await setup();
    forks[0]!.boot();
    await clock.advance(10_000);
    expect(forks[1]!.signals).toEqual([]);
    await clock.advance(1000);
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
    expect(forks[1]!.exited).toBe(true);
    await clock.advance(1000);
    expect(last(1)).not.toBe(forks[1]);
    expect(forks).toHaveLength(3);
  });

  it('counts for the next fork only the boot failures their workers reported: one killed at workerBootTimeout leaves the next worker the first to report (and, with -d, dump) its error (tests22.3)', async () => {
    const { clock, forks, envs } = await setup({ workers: 1 });
    const failures = (w: FakeWorker) => envs.get(w)![WORKER_BOOT_FAILURES_ENV];
    expect(failures(forks[0]!)).toBe('0');
    // At a load of 40-60 a -d worker's boot outlasts workerBootTimeout: killed, it reported nothing.
    await clock.advance(11_000);
    expect(forks[0]!.signals).toEqual(['SIGKILL']);
    await clock.advance(2_000);
    expect(forks).toHaveLength(2);
    expect(failures(forks[1]!)).toBe('0');
    // This one reports its import error: the next is told a failure was reported before it.
    forks[1]!.failBoot();
    await clock.advance(5_000);
    expect(forks).toHaveLength(3);
    expect(failures(forks[2]!)).toBe('1');
  });

  it('kills a booted worker that misses check-ins for workerTimeout and replaces it; one that checks in is left alone', async () => {
    const { clock, forks, lines } = await setup({ workerTimeout: 4 });
    forks[0]!.boot();
    forks[1]!.boot();
    for (let s = 0; s < 6; s++) {
      await clock.advance(1000);
      forks[0]!.checkin();
    }
    expect(forks[0]!.signals).toEqual([]);
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
    // No inspector: the line says how to get an autopsy next time (it has no check-in to quote).
    expect(lines.some((l) => l.msg === `Worker 1 (PID: ${forks[1]!.process.pid}) failed to check in within 4 seconds; terminating it; start with --inspect (or -d) for an autopsy of its stack before the kill`)).toBe(true);
    await settle();
    expect(forks.map((w) => `${w.index}:${w.exited}`)).toEqual(['0:false', '1:true', '1:false']);
  });
});

/** DevTools that record what the primary asks of them; autopsies settle when the test says. */
function fakeDevTools() {
  const calls: string[] = [];
  const autopsies: (() => void)[] = [];
  const devtools: DevTools = {
    inspectorOpened: (h) => void calls.push(`opened ${h.index} ${h.inspector}`),
    exited: (h) => void calls.push(`exited ${h.index}`),
    autopsy: (h, why) => {
      calls.push(`autopsy ${h.index} ${why.code}`);
      return new Promise<void>((resolve) => autopsies.push(resolve));
    },
    stackOf: async (index) => ({ kind: 'stack', worker: index }) as unknown as Dump,
  };
  return { devtools, calls, autopsies };
}

describe('Primary: balanceConnections', () => {
  const conns = (keepalive: number, more: Record<string, number> = {}) => ({ connections: { first_data: 0, reading: 0, app: 0, keepalive, upgraded: 0, streaming: 0, ...more } });
  const checkin = (w: FakeWorker, stats: Record<string, unknown>) => w.emit('message', { tspuma: 1, type: 'checkin', index: w.index, stats });
  const sheds = (w: FakeWorker) => w.sent.filter((m) => m.type === 'shed');

  it("tells a worker over its share of the connections (by its siblings' last check-ins) to close the excess; not the lighter worker, not a balanced one, and not again before its siblings checked in since", async () => {
    const { forks, clock } = await setup();
    forks[0]!.boot();
    forks[1]!.boot();
    checkin(forks[1]!, conns(2));
    checkin(forks[0]!, conns(6, { app: 2 }));
    expect(sheds(forks[0]!)).toEqual([{ tspuma: 1, type: 'shed', count: 3 }]);
    expect(sheds(forks[1]!)).toEqual([]);
    // Its next check-in (5 left) beside the sibling's older one (2: the 3 it closed not counted
    // anywhere yet) is not judged: it waits for the sibling's next check-in.
    checkin(forks[0]!, conns(5));
    expect(sheds(forks[0]!)).toHaveLength(1);
    await clock.advance(250);
    checkin(forks[1]!, conns(5));
    checkin(forks[0]!, conns(5));
    expect(sheds(forks[0]!)).toHaveLength(1);
    expect(sheds(forks[1]!)).toEqual([]);
    // Back on the same worker (a busy worker reconnected to itself): told again.
    await clock.advance(250);
    checkin(forks[0]!, conns(9));
    expect(sheds(forks[0]!)).toEqual([{ tspuma: 1, type: 'shed', count: 3 }, { tspuma: 1, type: 'shed', count: 2 }]);
  });

  it('counts neither upgraded nor streaming connections, nor a worker that has not checked in with connections yet', async () => {
    const { forks } = await setup();
    forks[0]!.boot();
    forks[1]!.boot();
    checkin(forks[0]!, conns(6));
    expect(sheds(forks[0]!)).toEqual([]);
    checkin(forks[1]!, conns(0, { upgraded: 40, streaming: 9 }));
    checkin(forks[0]!, conns(6, { upgraded: 1 }));
    expect(sheds(forks[0]!)).toEqual([{ tspuma: 1, type: 'shed', count: 3 }]);
  });

  it('sends nothing when off', async () => {
    const { forks } = await setup({ balanceConnections: false });
    forks[0]!.boot();
    forks[1]!.boot();
    checkin(forks[1]!, conns(0));
    checkin(forks[0]!, conns(10));
    expect(sheds(forks[0]!)).toEqual([]);
  });
});

describe('Primary: the listening sockets it keeps', () => {
  it('binds once, forks every worker (a respawn and a restart too) with the same sockets after its IPC channel, and closes them when it stops', async () => {
    const options = resolveOptions([{ source: 'test', values: { workers: 1, workerBootTimeout: 10, workerCheckInterval: 1, workerTimeout: 60, workerShutdownTimeout: 5, bind: ['tcp://127.0.0.1:0'] }, fromString: false }]);
    const forks: { worker: FakeWorker; binds: string | undefined; fds: readonly number[] }[] = [];
    const fork = (env: Record<string, string>, fds: readonly number[] = []) => {
      const worker = new FakeWorker(Number(env[WORKER_INDEX_ENV]), Number(env[WORKER_PHASE_ENV]));
      forks.push({ worker, binds: env[WORKER_BINDS_ENV], fds });
      return worker;
    };
    let binds = 0;
    let closed = 0;
    const bindListeners = async () => {
      binds++;
      return [{ spec: options.bind[0]!, fd: 41, url: 'http://127.0.0.1:45678', close: () => closed++, listen: () => null }];
    };
    const primary = new Primary(options, fakeLog([]), { fork, clock: new FakeClock(), bindListeners });
    await primary.start();
    forks[0]!.worker.boot();
    forks[0]!.worker.exit(null, 'SIGKILL'); // respawned at once, on the same socket
    await settle();
    forks[1]!.worker.boot();
    const restart = primary.phasedRestart();
    await settle();
    forks[2]!.worker.boot();
    await restart;
    expect(forks.map((f) => f.fds)).toEqual([[41], [41], [41]]);
    expect(forks.map((f) => (JSON.parse(f.binds!) as { fd: number; uri: string }[]).map((b) => `${b.fd} ${b.uri}`))).toEqual(Array(3).fill(['4 tcp://127.0.0.1:0']));
    expect([binds, closed]).toEqual([1, 0]);
    const stopped = primary.stop();
    expect(closed).toBe(1);
    await stopped;
    expect(await primary.stopped).toBe(0);
    expect(closed).toBe(1);
  });
});

describe('Primary: DevTools, injected (--inspect or -d)', () => {
  it('hands a worker that misses workerTimeout to its autopsy and kills it only once the autopsy settled', async () => {
    const { devtools, calls, autopsies } = fakeDevTools();
    const { clock, forks } = await setup({ workerTimeout: 4 }, devtools);
    forks[0]!.boot();
    forks[1]!.boot();
    for (let s = 0; s < 6; s++) {
      await clock.advance(1000);
      forks[0]!.checkin();
    }
    expect(calls).toEqual(['autopsy 1 TSPUMA_ERR_WORKER_TIMEOUT']);
    expect(forks[1]!.signals).toEqual([]);
    autopsies[0]!();
    await settle();
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
    expect(calls).toEqual(['autopsy 1 TSPUMA_ERR_WORKER_TIMEOUT', 'exited 1']);
  });

  it('a worker taking a heap snapshot is not killed while V8 reports nothing for longer than workerTimeout but under SNAPSHOT_QUIET_S (its first progress comes after the GCs), and is past that', async () => {
    const { devtools, calls } = fakeDevTools();
    const { clock, forks } = await setup({ workerTimeout: 2 }, devtools);
    forks[0]!.boot();
    forks[1]!.boot();
    devtools.onSnapshot!(forks[1]!.process.pid!, 'start');
    for (let s = 0; s < SNAPSHOT_QUIET_S - 1; s++) {
      await clock.advance(1000);
      forks[0]!.checkin();
    }
    expect(calls).toEqual([]);
    devtools.onSnapshot!(forks[1]!.process.pid!, 'progress');
    for (let s = 0; s < SNAPSHOT_QUIET_S + 2; s++) {
      await clock.advance(1000);
      forks[0]!.checkin();
    }
    expect(calls).toEqual(['autopsy 1 TSPUMA_ERR_WORKER_TIMEOUT']);
  });

  it("passes what a DevTools client has a worker do (a heap snapshot, a long evaluation) on to that worker, as discovery tells it, so its blocked-loop warning names it (review7.5)", async () => {
    const { devtools } = fakeDevTools();
    const { forks } = await setup({}, devtools);
    forks[0]!.boot();
    forks[1]!.boot();
    const told = (i: number) => forks[i]!.sent.filter((m) => m.type === 'client-work');
    const begun = { id: '1.7', what: 'heap snapshot', since: 1_000, until: null } as const;
    devtools.onWork!(forks[1]!.process.pid!, begun);
    devtools.onWork!(forks[1]!.process.pid!, { ...begun, until: 3_500 });
    devtools.onWork!(forks[0]!.process.pid!, { id: '2.3', what: 'evaluation', since: 4_000, until: null });
    devtools.onWork!(424242, { id: '3.1', what: 'evaluation', since: 5_000, until: null }); // no worker of ours (the primary's own)
    expect(told(1)).toEqual([
      { tspuma: 1, type: 'client-work', work: begun },
      { tspuma: 1, type: 'client-work', work: { ...begun, until: 3_500 } },
    ]);
    expect(told(0)).toEqual([{ tspuma: 1, type: 'client-work', work: { id: '2.3', what: 'evaluation', since: 4_000, until: null } }]);
  });

  it('S12: a worker still running at workerShutdownTimeout is handed to its autopsy (the stop-time reason) and killed only once the autopsy settled', async () => {
    const { devtools, calls, autopsies } = fakeDevTools();
    const { primary, clock, forks, lines } = await setup({}, devtools);
    forks[0]!.boot();
    forks[1]!.boot();
    forks[1]!.send = (message: PrimaryMessage) => (forks[1]!.sent.push(message), true); // worker 1 never stops by itself
    const stopped = primary.stop();
    await clock.advance(5000);
    expect(calls).toEqual(['exited 0', 'autopsy 1 TSPUMA_ERR_WORKER_SHUTDOWN_TIMEOUT']);
    expect(forks[1]!.signals).toEqual([]);
    autopsies[0]!();
    await stopped;
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
    // With DevTools the line suggests no --inspect.
    expect(lines.find((l) => l.msg.includes('killing it'))?.msg).toBe(`- Worker 1 (PID: ${forks[1]!.process.pid}) still running 5 s (workerShutdownTimeout) after it was told to stop; killing it (SIGKILL)`);
  });

  it("passes each worker's inspector URL on and asks it for live stacks; without DevTools /stack names the missing --inspect", async () => {
    const { devtools, calls } = fakeDevTools();
    const { primary, forks } = await setup({}, devtools);
    forks[0]!.emit('message', { tspuma: 1, type: 'inspector', index: 0, url: 'ws://127.0.0.1:1/w0' });
    expect(calls).toEqual(['opened 0 ws://127.0.0.1:1/w0']);
    expect(await primary.stackOf(0)).toEqual({ kind: 'stack', worker: 0 });
    const bare = await setup();
    const err = await rejection(bare.primary.stackOf(0));
    expect(err).toMatchObject({ code: 'TSPUMA_ERR_INSPECT_TARGET' });
    expect(err.message).toContain('none (is --inspect or --debug on?)');
  });
});

describe('Primary: when the primary itself stops running', () => {
  it('moves check-in deadlines by a stall of its own (a debugger pause) instead of killing the workers that checked in meanwhile', async () => {
    const { clock, forks, lines } = await setup({ workerTimeout: 4 });
    forks[0]!.boot();
    forks[1]!.boot();
    await clock.advance(1000);
    // Paused for two minutes: the workers' check-ins wait in the IPC channel until it runs again.
    clock.stall(120_000);
    await clock.advance(0);
    for (const w of forks) w.checkin();
    await clock.advance(1000);
    expect(forks.map((w) => w.signals)).toEqual([[], []]);
    expect(lines.some((l) => l.level === 'warn' && l.msg.startsWith('The primary did not run for 120'))).toBe(true);
    // A worker that then stops checking in is still caught.
    for (let s = 0; s < 6; s++) {
      await clock.advance(1000);
      forks[0]!.checkin();
    }
    expect(forks[0]!.signals).toEqual([]);
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
  });
});

describe('Primary: restarts', () => {
  async function booted(values: Record<string, unknown> = {}) {
    const t = await setup(values);
    for (const w of t.forks) w.boot();
    return t;
  }

  it('T12.9: a restart asked for while one runs is queued (info, not an error) and runs after it; asked again meanwhile, it joins the queued one', async () => {
    const { primary, last, lines, alive } = await booted();
    const first = primary.phasedRestart();
    let secondDone = false;
    const second = primary.phasedRestart().then(() => (secondDone = true));
    const third = primary.phasedRestart();
    await settle();
    expect(lines.filter((l) => /queued/.test(l.msg)).map((l) => `${l.level} ${l.msg}`)).toEqual([
      'info - Phased restart asked for while the phased restart to phase 1 runs: queued, it starts when that one ends',
      'info - Phased restart asked for while the phased restart to phase 1 runs: joins the phased restart already queued',
    ]);
    expect(lines.some((l) => l.level === 'error' || l.level === 'warn')).toBe(false);
    last(0).boot();
    await settle();
    last(1).boot();
    await first;
    await settle();
    expect(lines.filter((l) => l.msg.startsWith('- Starting phased restart')).map((l) => l.msg)).toEqual(['- Starting phased restart, phase 1', '- Starting phased restart, phase 2']);
    expect(secondDone).toBe(false);
    expect(alive()).toEqual(['0:1', '0:2', '1:1']);
    last(0).boot();
    await settle();
    last(1).boot();
    await second;
    await third;
    expect(primary.phase).toBe(2);
    expect(alive()).toEqual(['0:2', '1:2']);
  });

  it('T12.9: a hot restart asked for during a phased one is queued too; a queued restart is refused once the primary stops', async () => {
    const { primary, last } = await booted();
    const first = primary.phasedRestart();
    const hot = primary.hotRestart();
    await settle();
    last(0).boot();
    await settle();
    last(1).boot();
    await first;
    await settle();
    last(0).boot();
    last(1).boot();
    await hot;
    expect(primary.phase).toBe(2);
    const third = primary.phasedRestart();
    const queued = primary.hotRestart();
    void primary.stop();
    const refusedQueued = await rejection(queued);
    expect({ code: (refusedQueued as TspumaError).code, message: refusedQueued.message }).toEqual({
      code: 'TSPUMA_ERR_RESTART_STOPPING',
      message: 'Hot restart not finished: the primary is stopping (it was queued behind another restart and never ran).',
    });
    expect(((await rejection(third)) as TspumaError).code).toBe('TSPUMA_ERR_RESTART_STOPPING');
    // One asked for once the stop has begun is refused with the same code.
    const late = await rejection(primary.phasedRestart());
    expect({ code: (late as TspumaError).code, message: late.message }).toEqual({
      code: 'TSPUMA_ERR_RESTART_STOPPING',
      message: 'Phased restart not finished: the primary is stopping (it was asked for after the stop began).',
    });
  });

  it('phased restart stopped (SIGTERM) while an old worker drains: no next index is forked after the stop, and the restart ends refused', async () => {
    const { primary, forks, last, alive } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    // Old worker 0 keeps draining its connections: the restart waits for it to exit.
    forks[0]!.deaf = true;
    last(0).boot();
    await settle();
    expect(forks[0]!.sent.map((m) => m.type)).toEqual(['stop']);
    void primary.stop();
    await settle();
    const refused = rejection(restart);
    forks[0]!.exit(0, null);
    await settle();
    // Forks: #0 #1 (phase 0), #2 (new 0): no worker 1 of phase 1 booting into a stopped primary.
    expect(forks.map((w) => `${w.index}:${w.phase}`)).toEqual(['0:0', '1:0', '0:1']);
    expect(alive()).toEqual([]);
    const err = await refused;
    expect({ code: (err as TspumaError).code, message: err.message }).toEqual({
      code: 'TSPUMA_ERR_RESTART_STOPPING',
      message: 'Phased restart not finished: the primary is stopping (before worker 1 was replaced; no worker was forked for it).',
    });
  });

  it('phased restart: each new worker boots before its old one is told to stop; phase 1 alone serves after', async () => {
    const { primary, forks, last, alive } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    expect(alive()).toEqual(['0:0', '0:1', '1:0']);
    expect(forks[0]!.sent).toEqual([]);
    last(0).boot();
    await settle();
    expect(forks[0]!.sent.map((m) => m.type)).toEqual(['stop']);
    expect(alive()).toEqual(['0:1', '1:0', '1:1']);
    last(1).boot();
    await restart;
    expect(alive()).toEqual(['0:1', '1:1']);
    expect(primary.stats()).toMatchObject({ phase: 1, booted_workers: 2, old_workers: 0 });
  });

  it('T12.6: phased restart where an old worker is killed and respawned (phase 1) before its turn: the restart keeps that worker instead of booting its index twice', async () => {
    const { primary, forks, last, alive, current } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    forks[1]!.exit(null, 'SIGKILL'); // old worker 1 dies while new worker 0 boots: respawned as phase 1
    await settle();
    expect(alive()).toEqual(['0:0', '0:1', '1:1']);
    last(1).boot();
    last(0).boot();
    await restart;
    expect(alive()).toEqual(['0:1', '1:1']);
    // Forks: #0 #1 (phase 0), #2 (new 0), #3 (1's respawn, kept): no fifth.
    expect(forks).toHaveLength(4);
    expect(current()).toEqual(['0:1:#2', '1:1:#3']);
    expect(primary.stats()).toMatchObject({ phase: 1, booted_workers: 2, old_workers: 0 });
  });

  it('T12.6: ... and when that respawn is still booting at its turn, the restart waits for its boot (a failure there is the restart\'s to decide)', async () => {
    const { primary, forks, last, alive, current } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    forks[1]!.exit(null, 'SIGKILL');
    await settle();
    last(0).boot();
    await settle();
    expect(forks).toHaveLength(4);
    expect(alive()).toEqual(['0:1', '1:1']);
    last(1).boot();
    await restart;
    expect(forks).toHaveLength(4);
    expect(current()).toEqual(['0:1:#2', '1:1:#3']);
  });

  it('phased restart whose first new worker fails to boot: rolled back, the old workers alone serve and nothing respawns', async () => {
    const { primary, clock, forks, last, alive, current } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    last(0).failBoot('Loading app /srv/app.ts failed: SyntaxError: Unexpected token');
    const err = await rejection(restart);
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_RESTART_BOOT');
    expect(err.message).toContain('SyntaxError: Unexpected token');
    expect(err.message).toContain('the workers of phase 0 keep serving');
    const count = forks.length;
    await clock.advance(9000);
    expect(forks).toHaveLength(count);
    expect(alive()).toEqual(['0:0', '1:0']);
    expect(primary.stats()).toMatchObject({ phase: 0, booted_workers: 2, old_workers: 0 });
    expect([...primary.current.values()].map((h) => h.pid).sort()).toEqual([forks[0]!.process.pid, forks[1]!.process.pid]);
    expect(current()).toEqual(['0:0:#0', '1:0:#1']);
  });

  it('a stop whose worker is still running at workerShutdownTimeout kills it and says so (a held DevTools client once kept workers for 30 s, silently)', async () => {
    const { primary, clock, forks, lines } = await booted();
    forks[1]!.send = (message: PrimaryMessage) => (forks[1]!.sent.push(message), true); // worker 1 never stops by itself
    const stopped = primary.stop();
    await clock.advance(4999);
    expect(forks[1]!.signals).toEqual([]);
    expect(lines.filter((l) => l.msg.includes('killing it'))).toEqual([]);
    await clock.advance(1);
    await stopped;
    expect(forks[1]!.signals).toEqual(['SIGKILL']);
    expect(lines.filter((l) => l.msg.includes('killing it'))).toEqual([{ level: 'warn', msg: `- Worker 1 (PID: ${forks[1]!.process.pid}) still running 5 s (workerShutdownTimeout) after it was told to stop; killing it (SIGKILL); start with --inspect (or -d) for an autopsy of its stack before the kill` }]);
  });

  it('S12: the kill at workerShutdownTimeout names what the worker had in flight at its last check-in, as the workerTimeout kill does', async () => {
    const { primary, clock, forks, lines } = await booted();
    forks[1]!.send = (message: PrimaryMessage) => (forks[1]!.sent.push(message), true);
    forks[1]!.emit('message', { tspuma: 1, type: 'checkin', index: 1, stats: { running: 2, in_flight: [{ method: 'GET', url: '/search?q=aaaa', ms: 700 }], rss_bytes: 73 * 1048576, heap_used_bytes: 11 * 1048576, heap_limit_bytes: 4144 * 1048576 } });
    const stopped = primary.stop();
    await clock.advance(5000);
    await stopped;
    expect(lines.find((l) => l.msg.includes('killing it'))?.msg).toBe(
      `- Worker 1 (PID: ${forks[1]!.process.pid}) still running 5 s (workerShutdownTimeout) after it was told to stop; killing it (SIGKILL); at its last check-in (5.0 s before) it was serving GET /search?q=aaaa (in the app 0.7 s then) and 1 more; its heap was 11 of 4144 MiB (rss 73 MiB); start with --inspect (or -d) for an autopsy of its stack before the kill`,
    );
  });

  it('phased restart whose new worker never boots: killed at workerBootTimeout and rolled back', async () => {
    const { primary, clock, last, alive, current } = await booted();
    const restart = primary.phasedRestart();
    const caught = rejection(restart);
    await clock.advance(10_000);
    expect(last(0).signals).toEqual(['SIGKILL']);
    expect((await caught).message).toContain('it did not boot within workerBootTimeout (10 s)');
    await settle();
    expect(alive()).toEqual(['0:0', '1:0']);
    expect(current()).toEqual(['0:0:#0', '1:0:#1']);
    expect(primary.stats()).toMatchObject({ phase: 0, booted_workers: 2, old_workers: 0 });
  });

  it('phased restart whose second new worker fails after the first booted: rolled forward, phase 1 alone serves once it respawns', async () => {
    const { primary, clock, last, alive, lines, current } = await booted();
    const restart = primary.phasedRestart();
    await settle();
    last(0).boot();
    await settle();
    last(1).failBoot();
    await restart;
    expect(lines.some((l) => l.level === 'warn' && /Phased restart finished, phase 1; worker 1 of phase 1 failed to boot .*; it respawns with backoff/.test(l.msg))).toBe(true);
    expect(lines.filter((l) => /^Worker 1 failed to boot/.test(l.msg)).map((l) => l.msg)).toEqual(['Worker 1 failed to boot 1 time(s) in a row; respawning in 1 s']);
    // The old worker 1 was stopped with the restart: no second generation serves.
    expect(alive()).toEqual(['0:1']);
    await clock.advance(1000);
    expect(alive()).toEqual(['0:1', '1:1']);
    last(1).boot();
    expect(primary.stats()).toMatchObject({ phase: 1, booted_workers: 2, old_workers: 0 });
    // Forks: #0 #1 (phase 0), #2 (new 0), #3 (new 1, failed), #4 (its respawn).
    expect(current()).toEqual(['0:1:#2', '1:1:#4']);
  });

  it('hot restart whose new workers all fail: rolled back to the old set', async () => {
    const { primary, clock, forks, last, alive, current } = await booted();
    const restart = primary.hotRestart();
    await settle();
    last(0).failBoot();
    last(1).failBoot();
    expect((await rejection(restart)).message).toContain('Restart to phase 1 rolled back');
    const count = forks.length;
    await clock.advance(9000);
    expect(forks).toHaveLength(count);
    expect(alive()).toEqual(['0:0', '1:0']);
    expect(current()).toEqual(['0:0:#0', '1:0:#1']);
    expect(primary.stats()).toMatchObject({ phase: 0, booted_workers: 2, old_workers: 0 });
  });

  it('hot restart where one new worker boots and one fails: rolled forward, every old worker stops', async () => {
    const { primary, clock, last, alive, current } = await booted();
    const restart = primary.hotRestart();
    await settle();
    last(0).boot();
    last(1).failBoot();
    await restart;
    expect(alive()).toEqual(['0:1']);
    await clock.advance(1000);
    last(1).boot();
    expect(alive()).toEqual(['0:1', '1:1']);
    expect(primary.stats()).toMatchObject({ phase: 1, booted_workers: 2, old_workers: 0 });
    expect(current()).toEqual(['0:1:#2', '1:1:#4']);
  });
});

describe('Primary: a worker that cannot be started', () => {
  const spawnError = (code: string) => Object.assign(new Error(`spawn /usr/bin/node ${code}`), { code, errno: -24, syscall: `spawn /usr/bin/node`, spawnargs: ['--control-token', 'spawn-secret-0123456789'] });

  it('survives a spawn error event (EMFILE) after serving: a coded line without the command line, then a respawn with backoff', async () => {
    const { primary, clock, forks, last, lines } = await setup();
    forks[0]!.boot();
    forks[1]!.boot();
    forks[1]!.exit(1, null); // dies: respawned at once, and that spawn fails
    await settle();
    expect(forks).toHaveLength(3);
    last(1).emit('error', spawnError('EMFILE'));
    await settle();
    const line = lines.find((l) => l.msg.includes('TSPUMA_ERR_WORKER_FORK') || l.msg.startsWith('Cannot start worker 1'));
    expect(line?.level).toBe('error');
    expect(line?.msg).toContain('EMFILE');
    expect(line?.msg).toContain('ulimit -n');
    expect(JSON.stringify(lines)).not.toContain('spawn-secret');
    await clock.advance(1000);
    expect(forks).toHaveLength(4);
    last(1).boot();
    expect(primary.stats()).toMatchObject({ booted_workers: 2 });
    expect(primary.failure).toBeNull();
  });

  it('survives a fork that throws (ENOMEM, EAGAIN) and retries the index with backoff', async () => {
    const options = resolveOptions([{ source: 'test', values: { workers: 1, workerBootTimeout: 10, workerCheckInterval: 1, workerTimeout: 60, workerShutdownTimeout: 5 }, fromString: false }]);
    const clock = new FakeClock();
    const lines: LogLine[] = [];
    const forks: FakeWorker[] = [];
    const failures = ['ENOMEM', 'EAGAIN'];
    const fork = (env: Record<string, string>) => {
      const code = forks.length > 0 ? failures.shift() : undefined;
      if (code) {
        forks.push(null as unknown as FakeWorker);
        throw spawnError(code);
      }
      const w = new FakeWorker(Number(env[WORKER_INDEX_ENV]), Number(env[WORKER_PHASE_ENV]));
      forks.push(w);
      return w;
    };
    const primary = new Primary(options, fakeLog(lines), { fork, clock, bindListeners: async () => [] });
    await primary.start();
    forks[0]!.boot();
    forks[0]!.exit(1, null);
    await settle();
    expect(lines.filter((l) => l.msg.startsWith('Cannot start worker 0')).map((l) => l.msg.match(/\((E[A-Z]+)\)/)?.[1])).toEqual(['ENOMEM']);
    await clock.advance(1000);
    await settle();
    await clock.advance(2000);
    await settle();
    expect(lines.filter((l) => l.msg.startsWith('Cannot start worker 0')).map((l) => l.msg.match(/\((E[A-Z]+)\)/)?.[1])).toEqual(['ENOMEM', 'EAGAIN']);
    const worker = forks.at(-1)!;
    expect(worker).not.toBeNull();
    worker.boot();
    expect(primary.stats()).toMatchObject({ booted_workers: 1 });
  });
});
