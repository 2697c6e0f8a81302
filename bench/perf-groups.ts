// Where a busy server's CPU goes, per request, from `perf record -g` of several processes a build:
// each sample's CPU time (its period: cpu-clock counts nanoseconds) is put in one group by its leaf
// frame (kernel, JIT-compiled JavaScript, V8's builtins with the IC handlers apart, GC, V8's C++,
// node's C++ with llhttp and libuv, libc) and in one owner by its innermost JavaScript frame
// (tspuma's modules, the app, node's own JavaScript, none), then divided by the requests wrk
// counted. Labels that differ only in trailing digits (raw1, raw2) are one build, pooled. The
// servers must run with `--perf-basic-prof` (JIT frames are named through /tmp/perf-PID.map).
//   node dist/bench/perf-groups.js KEEPDIR             (bench/cpu-processes.sh's KEEP=DIR with PERF=1)
//   node dist/bench/perf-groups.js LABEL=FILE.data:REQUESTS ...
// Env: TOP (rows of the innermost-function table, default 25), APP (a regex naming the app's files,
// default the bench apps). bench/README.md, session 14, shows what the tables say and how to read them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface Run {
  build: string;
  file: string;
  requests: number;
}

interface Tally {
  requests: number;
  /** CPU nanoseconds by key. */
  groups: Map<string, number>;
  owners: Map<string, number>;
  inner: Map<string, number>;
}

const APP = new RegExp(process.env.APP ?? 'bench/[a-z-]+-app\\.ts|raw-node\\.js|node-http\\.js|examples/');
const GC = /Scaveng|Heap::Collect|MarkCompact|MinorMarkSweep|GCTracer|Sweeper|Evacuat|ConcurrentMarking|IterateObjectCache/;
const IC = /^Builtins_(Keyed)?(Load|Store|DefineNamedOwn|DefineKeyedOwn|LoadGlobal)IC/;

function runsOf(args: string[]): Run[] {
  if (args.length === 1 && existsSync(path.join(args[0]!, 'counts'))) {
    const dir = args[0]!;
    return readFileSync(path.join(dir, 'counts'), 'utf8').trim().split('\n').map((line) => {
      const [label, k, n] = line.split(' ');
      return { build: label!.replace(/\d+$/, ''), file: path.join(dir, `${label}-${k}.data`), requests: Number(n) };
    });
  }
  return args.map((a) => {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(a);
    if (!m) throw new Error(`expected LABEL=FILE.data:REQUESTS, got ${a}`);
    return { build: m[1]!.replace(/\d+$/, ''), file: m[2]!, requests: Number(m[3]) };
  });
}

/** One sample's group, from the main thread's leaf frame and its chain (other threads by what they run). */
function groupOf(main: boolean, frames: { sym: string; dso: string }[]): string {
  const chain = frames.map((f) => f.sym).join(' ');
  if (!main) return GC.test(chain) ? 'other threads: GC' : /compiler|Compile/.test(chain) ? 'other threads: compiler' : 'other threads: other';
  const { sym, dso } = frames[0]!;
  if (dso.includes('kernel')) return 'kernel';
  if (GC.test(chain)) return 'GC (main thread)';
  if (sym.startsWith('JS:') || dso.includes('perf-')) return 'JIT JavaScript';
  if (IC.test(sym)) return 'V8 builtins: IC handlers';
  if (sym.startsWith('Builtins_') || sym.startsWith('RegExp:')) return 'V8 builtins: other';
  if (sym.includes('Runtime_')) return 'V8 runtime';
  if (sym.startsWith('v8::')) return 'V8 C++';
  if (sym.startsWith('llhttp') || sym.startsWith('uv_') || sym.startsWith('uv__') || sym.startsWith('node::') || sym.includes('<node::')) return 'node C++, llhttp, libuv';
  if (/libc|libstdc|libgcc|vdso/.test(dso)) return 'libc, libstdc++';
  return 'node binary, other';
}

function ownerOf(js: string | undefined): string {
  if (js === undefined) return 'no JavaScript frame (C++ only)';
  if (js.includes('/dist/server/') || js.includes('/dist/diagnostics/')) return "tspuma's JavaScript";
  if (APP.test(js)) return "the app's handler";
  if (js.includes('node:')) return "node's JavaScript";
  return 'other JavaScript (dependencies)';
}

function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

function tally(runs: Run[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const run of runs) {
    let t = out.get(run.build);
    if (!t) out.set(run.build, (t = { requests: 0, groups: new Map(), owners: new Map(), inner: new Map() }));
    t.requests += run.requests;
    const text = execFileSync('perf', ['script', '-i', run.file, '-F', 'pid,tid,period,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    for (const block of text.split('\n\n')) {
      const lines = block.split('\n').filter((l) => l.trim() !== '');
      const head = /^\s*(\d+)\/(\d+)\s+(\d+)/.exec(lines[0] ?? '');
      if (!head || lines.length < 2) continue;
      const main = head[1] === head[2];
      const ns = Number(head[3]);
      const frames = lines.slice(1).map((l) => {
        const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(l);
        return m ? { sym: m[1]!, dso: m[2]! } : { sym: l.trim(), dso: '' };
      });
      add(t.groups, groupOf(main, frames), ns);
      if (!main) continue;
      const js = frames.find((f) => f.sym.startsWith('JS:'))?.sym;
      add(t.owners, ownerOf(js), ns);
      add(t.inner, js === undefined ? '(no JavaScript frame)' : js.replace(/^JS:/, ''), ns);
    }
  }
  return out;
}

function table(title: string, builds: [string, Tally][], pick: (t: Tally) => Map<string, number>, keys: string[]): void {
  const us = (t: Tally, k: string) => (pick(t).get(k) ?? 0) / 1e3 / t.requests;
  console.log(`\n${title.padEnd(44)}${builds.map(([b]) => b.padStart(10)).join('')}${builds.length > 1 ? `  ${builds[1]![0]}-${builds[0]![0]}`.padStart(12) : ''}`);
  for (const k of [...keys, 'total']) {
    const v = builds.map(([, t]) => (k === 'total' ? [...pick(t).values()].reduce((a, b) => a + b, 0) / 1e3 / t.requests : us(t, k)));
    console.log(`${k.padEnd(44)}${v.map((x) => x.toFixed(2).padStart(10)).join('')}${v.length > 1 ? (v[1]! - v[0]! >= 0 ? '+' : '') .padStart(8) + (v[1]! - v[0]!).toFixed(2) : ''}`);
  }
}

const runs = runsOf(process.argv.slice(2));
if (runs.length === 0) {
  console.error('usage: node dist/bench/perf-groups.js KEEPDIR | LABEL=FILE.data:REQUESTS ...');
  process.exit(2);
}
const builds = [...tally(runs)];
console.log(`µs of CPU a request (perf samples' periods / wrk's requests), pooled per build: ${builds.map(([b, t]) => `${b} ${runs.filter((r) => r.build === b).length} runs, ${t.requests} requests`).join('; ')}`);
const keysOf = (pick: (t: Tally) => Map<string, number>) => [...new Set(builds.flatMap(([, t]) => [...pick(t).keys()]))].sort();
table('by leaf frame (what the CPU ran)', builds, (t) => t.groups, keysOf((t) => t.groups));
table('main thread, by innermost JavaScript frame', builds, (t) => t.owners, keysOf((t) => t.owners));
if (builds.length > 1) {
  const [[a, ta], [b, tb]] = builds as [[string, Tally], [string, Tally]];
  const f = (t: Tally, k: string) => (t.inner.get(k) ?? 0) / 1e3 / t.requests;
  const rows = keysOf((t) => t.inner).map((k) => ({ k, d: f(tb, k) - f(ta, k) })).sort((x, y) => Math.abs(y.d) - Math.abs(x.d));
  console.log(`\ninnermost JavaScript function (with all it calls), largest differences ${b}-${a}, µs a request`);
  for (const { k, d } of rows.slice(0, Number(process.env.TOP ?? 25))) console.log(`${(d >= 0 ? '+' : '') + d.toFixed(3)} ${f(ta, k).toFixed(3).padStart(7)} ${f(tb, k).toFixed(3).padStart(7)}  ${k}`);
}
