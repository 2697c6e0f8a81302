import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { SLOWNESS } from './test/helpers/net.js';

/**
 * Vitest's order (the slowest files of the last run first; with no record of one, as in a fresh
 * clone, the largest files first), with the files that wait on processes of their own first:
 * integration files, and the unit files that start one (probe-engine.test runs its fixture for
 * 15-20 s at a load of 17, typecheck.test runs tsc for 10 s), directly or through
 * test/helpers/command.ts's command(). A unit file takes a fraction of a second, so the short ones
 * fill the gaps at the end; a long one left among them ran last, alone (probe-engine.test was the
 * run's last file, 20 s, with the other forks done).
 */
const SPAWNS = /\b(spawn|spawnSync|execFile|execFileSync|execSync|command)\(/;
/**
 * Unit files of seconds that start no process: dpdm over every module (1.7-6.7 s), and files that wait
 * on real time (deadlines, bounds, held pauses). With no record of a last run (a clean clone) they were
 * sorted by size among the short files, and all ran in a run's last 15 s, with probe-engine.test and
 * probe-resumer.test (both start their fixture through command(), which SPAWNS did not match): in a run
 * given the cores (test/accounting/timeline.py, main c821342) probe-engine 104.3-110.8 s, inspect-list,
 * express-responses and inspect-attach-bound 108.9-112.8 s, and probe-resumer 108.8-117.0 s, the run's
 * last file, alone in its fork for its last 4 s (a deficit of about 11 core-seconds). Each is 1-3.8 s
 * in the quiet run of 3f8df98; every other short unit file under 0.9 s.
 */
const LONG_UNITS = ['import-circles', 'response-deadlines', 'http-framing', 'inspect-attach-bound', 'http', 'express-responses', 'probe-cli-timeout', 'inspect-list', 'replay-request'].map((name) => `/test/unit/${name}.test.ts`);
// A name that is no file (one renamed) would leave that file among the short ones unseen: the run stops.
for (const u of LONG_UNITS) if (!existsSync(fileURLToPath(new URL(`.${u}`, import.meta.url)))) throw new Error(`vitest.config.ts: LONG_UNITS names ${u}, which is no file: rename or remove the entry`);
/**
 * `--sequence.shuffle` (or `--sequence.shuffle.files`) shuffles the files, by `--sequence.seed`
 * (the time when none is given; the seed is printed to replay the files' order; the cases' order,
 * which `--sequence.shuffle` also shuffles, is the same again only with a seed given). Vitest shuffles files only
 * with its own sequencer: under this one the flag shuffled each file's tests and kept the order of
 * the files (two seeds, one fork: the same order), so it never showed whether a file in the shared
 * forks depends on what ran before it. For a whole run, `--sequence.shuffle.files`: many integration
 * files share one server among cases that run in turn ("one cluster, case after case"), which fail with
 * their cases shuffled (seed 505, files and cases shuffled: 21 cases of 10 files, most of them such).
 */
function shuffled(files: TestSpecification[], seed: number): TestSpecification[] {
  const out = [...files];
  let s = seed >>> 0;
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
const SHUFFLE_FILES = process.argv.some((a) => a === '--sequence.shuffle' || a === '--sequence.shuffle.files' || a.startsWith('--sequence.shuffle='));
class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    if (SHUFFLE_FILES) {
      const seed = this.ctx.config.sequence.seed ?? Date.now();
      process.stderr.write(`vitest.config.ts: files shuffled with seed ${seed} (--sequence.seed=${seed} replays their order${this.ctx.config.sequence.seed === undefined ? '; the cases\' order is replayed only when a seed is given' : ''})\n`);
      return shuffled(files, seed);
    }
    const sorted = await super.sort(files);
    const long = (f: TestSpecification) => f.moduleId.includes('/test/integration/') || LONG_UNITS.some((u) => f.moduleId.endsWith(u)) || SPAWNS.test(readFileSync(f.moduleId, 'utf8'));
    return [...sorted.filter(long), ...sorted.filter((f) => !long(f))];
  }
}

/**
 * Unit files that need a thread and modules of their own, run isolated: they replace a
 * module (vi.mock), or turn on what patches process-wide state (debug mode's call context wraps the
 * global timers and process.nextTick, its stack filter Error.prepareStackTrace; capture's inspector session pauses on exceptions; the console
 * redaction wraps console), or assert which modules a process has loaded. In a shared worker one
 * such file changed another's outcome (call-context's nextTick test saw 'tick:undefined').
 */
const ISOLATED = [
  'test/unit/dump-files.test.ts',
  'test/unit/inspector-open.test.ts',
  'test/unit/call-context.test.ts',
  'test/unit/diagnostics-off.test.ts',
  'test/unit/ws-lazy.test.ts',
  'test/unit/express-maps.test.ts',
];

/**
 * Files of that kind that give back what they patch and close what they open (the diagnostics
 * layer's close(), uninstallAppStacks(), a console redaction's uninstall()): apart from the shared
 * forks, but one after another in one thread of their own, with one module graph (a fresh thread
 * each was about 0.2 s of CPU a file: the six alone 4.46, 4.85, 4.51 s isolated against 3.37, 3.16,
 * 3.18 s in one thread, load 27-33). They passed in twelve orders. call-context.test is not one of
 * them: run after site-mutes.test in one thread, its nextTick case failed.
 */
const ONE_THREAD = [
  'test/unit/capture.test.ts',
  'test/unit/site-mutes.test.ts',
  'test/unit/pausing-taken.test.ts',
  'test/unit/diagnostics.test.ts',
  'test/unit/app-stacks.test.ts',
  'test/unit/console-redaction.test.ts',
];

/**
 * Node 20 parses a NODE_EXTRA_CA_CERTS bundle at the start of every process: 50-60 ms of CPU each
 * where it names the system's (node -e 0: 0.07 s with it, 0.02 s without). No test makes an
 * outgoing TLS connection but npm's, so the forks, and every process they start (the CLI, its
 * workers, clinic, systemd-socket-activate's node, tsx fixtures), run without it; npm gets it back
 * (test/helpers/cli.ts's npmEnv). Kept under a TSPUMA_ name, which hermeticEnv() strips.
 */
if (process.env.NODE_EXTRA_CA_CERTS) {
  process.env.TSPUMA_TEST_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
  delete process.env.NODE_EXTRA_CA_CERTS;
}

/** dist/, the built package, by its absolute path (how vite-node matches a module to externalize). */
const BUILT = new RegExp(`^${fileURLToPath(new URL('./dist/', import.meta.url)).replace(/[.*+?^$()|[\]\\{}]/g, '\\$&')}`);

/**
 * The shared project's imports of the sources (`../../server/x.js`, `../../diagnostics/…`,
 * `../../inspector/…`, from a test or a helper) load tsc's output of the same module in dist/, which
 * npm test's pretest build has just written, and which node loads itself (BUILT): what the package
 * ships is what the unit files run. Vite transformed each source module in the main process and each
 * fork evaluated the result: the shared unit files (103) used 39.4 s of CPU with the sources against
 * 32.0 s with dist/ (user+sys, one pair at load 26-29; vitest's transform total 33.0 -> 23.0 s).
 * A change to a source needs `npm run build` before vitest (as the integration files always did);
 * TSPUMA_TEST_SOURCES=ts transforms the sources again (a watch run without builds). The one-thread
 * project loads dist/ too (its six files' user+sys, sources/dist alternated x4 at load 37-41: 9.4,
 * 11.3, 10.7, 7.6 -> 8.1, 8.9, 6.6, 6.5 s; 47/47 pass on either). The isolated project keeps the
 * sources: vi.mock replaces a source module for its importers (dump-files, inspector-open), which
 * it cannot do for modules node loads, and its other four files on dist/ in a project of their own
 * saved nothing (a second project's setup in the main process: 7.9, 7.9 -> 8.1, 7.4 s).
 */
const BUILT_SOURCES = { find: /^(?:\.\.\/)+(server|diagnostics|inspector)\/(.*)\.js$/, replacement: `${fileURLToPath(new URL('./dist/', import.meta.url))}$1/$2.js` };

/**
 * No fresh forks after the last file (tests18.2, tests19.1). With `isolate: false`, vitest 3.2's forks
 * pool calls tinypool's recycleWorkers() once the shared project's files are all handed out: it ends
 * the idle forks and marks the busy ones to end after their file, and each one ended is replaced up
 * to minForks. The shared project is the forks pool's only group, so the replacements run no file:
 * four processes started and ended for nothing, each loading vitest's worker and running tinypool's
 * /proc/cpuinfo pipelines (12 processes), at the end of the run where nothing else hides them.
 * A `vitest run` sets that pool's minimum to 0 when it recycles, so none is started; the forks
 * still end as before. minForks 0 from the start is not the way: tinypool then ends a fork that
 * went idle while vitest hands it the next file ('Terminating worker thread', tests19.1). The
 * Tinypool class is the one vitest imports (resolved from vitest's own folder). Watch mode (a
 * group run again) keeps tinypool's behaviour.
 */
if (process.argv.includes('run') || process.argv.includes('--run')) {
  const fromVitest = createRequire(createRequire(import.meta.url).resolve('vitest/package.json'));
  const { Tinypool } = (await import(pathToFileURL(fromVitest.resolve('tinypool')).href)) as typeof import('tinypool');
  const recycle = Tinypool.prototype.recycleWorkers;
  // An upgrade that renames or drops what this relies on fails the run here, not silently.
  if (typeof recycle !== 'function' || !Object.getOwnPropertyDescriptor(Tinypool.prototype, 'options')?.get) {
    throw new Error(`vitest.config.ts: tinypool ${String(Tinypool.version)} has no recycleWorkers() or options getter: see the comment above the check and update it for this version`);
  }
  Tinypool.prototype.recycleWorkers = function (this: InstanceType<typeof Tinypool>, ...args: Parameters<typeof recycle>) {
    if (this.options.runtime === 'child_process' && !this.options.isolateWorkers) this.options.minThreads = 0;
    return recycle.apply(this, args);
  };
}

/**
 * Preloaded in every fork and worker thread (test/helpers/fork-cpuinfo.mjs): tinypool counts the
 * physical cores at each import with two `cat /proc/cpuinfo | … | wc -l` shell pipelines (12
 * processes, about 90 ms of CPU: findings tests21.1), and vitest's fork and thread entries import it
 * for their workerId; the preload answers those two commands in-process. The main process (which
 * sizes the pools with the figure) still runs them.
 */
const CPUINFO = ['--import', pathToFileURL(fileURLToPath(new URL('./test/helpers/fork-cpuinfo.mjs', import.meta.url))).href];

const FORKS = process.env.TSPUMA_TEST_FORKS ? Number(process.env.TSPUMA_TEST_FORKS) : Math.max(4, availableParallelism());
if (!Number.isInteger(FORKS) || FORKS < 1) throw new Error(`TSPUMA_TEST_FORKS="${process.env.TSPUMA_TEST_FORKS}": expected a whole number of forks, 1 or more`);

export default defineConfig({
  test: {
    // Integration tests spawn the CLI; forks keep each file's signal handlers and ports apart.
    pool: 'forks',
    // Integration tests mostly wait (boots, timeouts, restarts), so more files run at once than
    // there are cores: vitest's default (cores - 1) runs one file at a time on 2 cores. On 2
    // cores, 4 at once measured 42 s against 43-52 s for 3 and 57 s for 6.
    poolOptions: {
      // Integration files share their fork processes (isolate: false): a file's own state is its
      // children and temporary folders, which its afterEach/afterAll end, so a fresh process per
      // file (a vitest fork costs 0.2-0.5 s of CPU, 58 files) buys nothing. (Not threads: autocannon
      // in a worker thread takes itself for one of its own workers.) As many forks kept as used: with
      // fewer, recycling the forks between projects failed the run ('Terminating worker thread').
      // TSPUMA_TEST_FORKS=N: another count, to measure one against this on a quiet machine.
      // Each fork and worker thread answers tinypool's two /proc/cpuinfo pipelines in-process (CPUINFO).
      forks: { isolate: false, minForks: FORKS, maxForks: FORKS, execArgv: CPUINFO },
      threads: { isolate: true, minThreads: 1, maxThreads: availableParallelism(), execArgv: CPUINFO },
    },
    sequence: { sequencer: LongFirst },
    // A bound for a test that hangs, not a speed target: at a load average of 10 to 20 on 2 cores
    // a -d cluster boot alone can take 20 s (a passing test never waits for it). Scaled as
    // test/helpers/net.ts scales waitFor's deadlines, by the load when the run starts.
    testTimeout: 60_000 * SLOWNESS,
    // SLOWNESS read again for each file (the run's own load grows as it goes).
    setupFiles: ['test/helpers/each-file.ts'],
    // Fails the run when a tspuma process it started outlives it (an orphaned worker, say), and kills it.
    // With TSPUMA_TEST_CPU_LOG, a last line for vitest's main process (test/helpers/main-cpu.ts).
    // Stops a run whose dist/ is older than a source (test/helpers/built-fresh.ts): BUILT_SOURCES.
    globalSetup: ['test/helpers/built-fresh.ts', 'test/helpers/orphan-check.ts', 'test/helpers/main-cpu.ts'],
    hookTimeout: 60_000 * SLOWNESS,
    reporters: ['default'],
    // The built package (dist/: plain JavaScript, compiled by npm test's pretest build) is loaded by
    // node itself, as node_modules/ is, not transformed by vite and sent to the fork: an in-process
    // import of 'tspuma' (examples/tspuma.config.ts, which option-records.test reads) brought in 61
    // of its modules, about 0.5 s of CPU (test/README.md, session 13). The sources tests import
    // (server/, diagnostics/, inspector/) load dist/ in the shared and one-thread projects
    // (BUILT_SOURCES); the isolated project's are transformed, and vi.mock works on them.
    server: { deps: { external: [BUILT] } },
    projects: [
      // Integration files and the unit files that need no isolation, in one project: the forks
      // pool runs one project at a time, so as one project the unit files fill the forks that the
      // last integration files leave idle (the sequencer puts them last). They share the forks'
      // module graph: a unit file no longer pays for a fresh process and a fresh import of the
      // server's modules (unit tier CPU 35.1 s in isolated forks, 31.5 s in isolated threads,
      // 14.4 s shared).
      { extends: true, ...(process.env.TSPUMA_TEST_SOURCES === 'ts' ? {} : { resolve: { alias: [BUILT_SOURCES] } }), test: { name: 'shared', include: ['test/integration/**/*.test.ts', 'test/unit/**/*.test.ts'], exclude: [...ISOLATED, ...ONE_THREAD] } },
      // A fresh worker thread for each of these (threads' isolate: true): its own module graph,
      // globals, process object, event loop and inspector.
      { extends: true, test: { name: 'isolated', include: ISOLATED, pool: 'threads' } },
      // One worker thread for all of these (threads' singleThread, isolate: false), in turn.
      { extends: true, ...(process.env.TSPUMA_TEST_SOURCES === 'ts' ? {} : { resolve: { alias: [BUILT_SOURCES] } }), test: { name: 'one-thread', include: ONE_THREAD, pool: 'threads', poolOptions: { threads: { isolate: false, singleThread: true } } } },
    ],
  },
});
