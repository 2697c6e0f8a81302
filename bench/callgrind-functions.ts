// Per-function self instructions from a callgrind dump taken with `--dump-instr=yes`, JIT code
// named through node's `--perf-basic-prof` map (/tmp/perf-PID.map): callgrind sees V8's generated
// code only as addresses, and the map names each range (a JS function with its tier, a builtin,
// a bytecode handler). Used by bench/cpu-per-request.ts (`FUNCTIONS=N`); also runnable alone:
//   node dist/bench/callgrind-functions.js CALLGRIND_OUT PERF_MAP [TOP]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Range {
  start: number;
  end: number;
  name: string;
}

/**
 * The perf map's ranges, sorted by start and not overlapping: every address belongs to the last
 * entry (in the file's order) that covers it. V8 frees code (a function deoptimized and compiled
 * again, a GC of old code) and puts new code at the same addresses, at other starts and sizes:
 * about a quarter of a busy server's entries overlap an earlier one, and an address looked up
 * among the overlapping ranges by start alone could be charged to the function whose code was
 * there before (bench/README.md, session 16).
 */
export function readPerfMap(file: string): Range[] {
  const entries: Range[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (!m) continue;
    const start = parseInt(m[1]!, 16);
    const size = parseInt(m[2]!, 16);
    if (size > 0) entries.push({ start, end: start + size, name: m[3]! });
  }
  return latestOwners(entries);
}

/** Non-overlapping ranges from `entries` in the order they were written: where two overlap, the later one owns the addresses. */
export function latestOwners(entries: Range[]): Range[] {
  const points = [...new Set(entries.flatMap((e) => [e.start, e.end]))].sort((a, b) => a - b);
  // Segment k is [points[k], points[k + 1]); owner[k] the index of the last entry covering it.
  const owner = new Int32Array(points.length).fill(-1);
  const indexOf = (x: number): number => {
    let lo = 0;
    let hi = points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  entries.forEach((e, i) => {
    for (let k = indexOf(e.start); points[k]! < e.end; k++) owner[k] = i;
  });
  const out: Range[] = [];
  for (let k = 0; k + 1 < points.length; k++) {
    const i = owner[k]!;
    if (i === -1) continue;
    const last = out.at(-1);
    if (last && last.end === points[k] && owner[k - 1] === i) last.end = points[k + 1]!;
    else out.push({ start: points[k]!, end: points[k + 1]!, name: entries[i]!.name });
  }
  return out;
}

function lookup(ranges: Range[], addr: number): string | null {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (addr < r.start) hi = mid - 1;
    else if (addr >= r.end) lo = mid + 1;
    else return r.name;
  }
  return null;
}

/**
 * V8's names carry the tier and the position (`JS:*onRequest file:///…/x.js:12:3`): kept short, one
 * row per function whatever the tier. A function of a bundled chunk (`dist/server/serving.chunk.js`,
 * whose code V8 runs from the `.chunk.code.js` beside it, line for line) also names the module it
 * was bundled from, `[server/fetch-response.js]`, so a reader (callgrind-groups) can tell the fetch
 * adapter from the request path.
 */
export function shortName(name: string): string {
  const m = /^(?:JS|LazyCompile|Function):[~*^+]?(\S*) (\S+)$/.exec(name);
  if (!m) return name;
  const file = m[2]!.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  const chunk = /^(.*\.chunk)\.js:(\d+):\d+$/.exec(m[2]!.replace(/^file:\/\//, ''));
  const module = chunk ? moduleAt(`${chunk[1]}.code.js`, Number(chunk[2])) : null;
  return `${m[1] || '(anonymous)'} ${file}${module !== null ? ` [${module}]` : ''}`;
}

/** Each chunk code file's module starts (esbuild's `// server/x.js` line before each module), read once. */
const moduleStarts = new Map<string, { line: number; module: string }[] | null>();

/** The module whose code holds `line` (1-based) of a chunk's code file, or null (no such file, a line before the first module). */
export function moduleAt(codeFile: string, line: number): string | null {
  let starts = moduleStarts.get(codeFile);
  if (starts === undefined) {
    starts = null;
    try {
      starts = [];
      const lines = readFileSync(codeFile, 'utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        const mark = /^\/\/ ((?:server|diagnostics|inspector|bench)\/[\w./-]+\.js)$/.exec(lines[i]!);
        if (mark) starts.push({ line: i + 1, module: mark[1]! });
      }
    } catch {
      starts = null;
    }
    moduleStarts.set(codeFile, starts);
  }
  if (starts === null) return null;
  let found: string | null = null;
  for (const s of starts) {
    if (s.line > line) break;
    found = s.module;
  }
  return found;
}

/**
 * Self instructions (Ir) by function name in a callgrind dump: each cost line's instruction
 * address goes to the perf map's range that holds it, else to callgrind's own function name
 * (node's and V8's C++ code, the libraries). The inclusive cost on a call's line is not self cost.
 */
export function selfByFunction(dumpFile: string, ranges: Range[]): Map<string, number> {
  return walk(dumpFile, ranges, null).self;
}

/**
 * Who calls the functions whose name matches `callee` (V8's IC builtins: `Builtin:LoadIC_Megamorphic`),
 * and how many instructions those calls cost them, inclusive: a megamorphic property access has
 * no function of its own to blame, and its caller names the access (bench:cpu `CALLERS=regex`).
 */
export function callersOf(dumpFile: string, ranges: Range[], callee: RegExp): Map<string, number> {
  return walk(dumpFile, ranges, callee).callers;
}

function walk(dumpFile: string, ranges: Range[], callee: RegExp | null): { self: Map<string, number>; callers: Map<string, number> } {
  const text = readFileSync(dumpFile, 'utf8');
  const names = new Map<string, string>();
  const out = new Map<string, number>();
  const callers = new Map<string, number>();
  /** The callee of the next cost line (a call's inclusive cost) matches `callee`. */
  let counted = false;
  let cfn = '?';
  let fn = '?';
  let positions = ['line'];
  let addr = 0;
  let line = 0;
  let skipNext = false;
  const add = (key: string, ir: number) => out.set(key, (out.get(key) ?? 0) + ir);
  const value = (token: string, previous: number, hex: boolean): number => {
    if (token === '*') return previous;
    if (token.startsWith('+')) return previous + parseInt(token.slice(1), hex ? 16 : 10);
    if (token.startsWith('-')) return previous - parseInt(token.slice(1), hex ? 16 : 10);
    return token.startsWith('0x') ? parseInt(token, 16) : parseInt(token, hex ? 16 : 10);
  };
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const c = raw.charCodeAt(0);
    const isCost = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42; // digit, + - *
    if (isCost) {
      const parts = raw.split(' ');
      let i = 0;
      for (const p of positions) {
        if (p === 'instr') addr = value(parts[i++]!, addr, true);
        else if (p === 'line') line = value(parts[i++]!, line, false);
      }
      const ir = Number(parts[i] ?? 0);
      if (skipNext) {
        skipNext = false;
        if (counted && ir) {
          const jit = positions.includes('instr') ? lookup(ranges, addr) : null;
          const key = `${jit !== null ? shortName(jit) : fn} -> ${cfn}`;
          callers.set(key, (callers.get(key) ?? 0) + ir);
        }
        continue;
      }
      if (!ir) continue;
      const jit = positions.includes('instr') ? lookup(ranges, addr) : null;
      add(jit !== null ? shortName(jit) : fn, ir);
      continue;
    }
    if (raw.startsWith('positions:')) positions = raw.slice(10).trim().split(/\s+/);
    else if (raw.startsWith('fn=')) {
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(raw);
      if (m) {
        if (m[2] !== undefined) names.set(m[1]!, m[2]);
        fn = names.get(m[1]!) ?? m[1]!;
      } else fn = raw.slice(3);
    } else if (raw.startsWith('cfn=')) {
      const m = /^cfn=\((\d+)\)(?: (.*))?$/.exec(raw);
      if (m) {
        if (m[2] !== undefined) names.set(m[1]!, m[2]);
        cfn = names.get(m[1]!) ?? m[1]!;
      } else cfn = raw.slice(4);
      // JIT code and V8's embedded builtins may be named by address only: the perf map names them.
      if (/^0x[0-9a-f]+$/i.test(cfn)) cfn = lookup(ranges, parseInt(cfn, 16)) ?? cfn;
    } else if (raw.startsWith('calls=')) {
      skipNext = true;
      counted = callee !== null && callee.test(cfn);
    }
  }
  return { self: out, callers };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dump, map, top] = process.argv.slice(2);
  if (!dump || !map) {
    process.stderr.write('usage: node dist/bench/callgrind-functions.js CALLGRIND_OUT PERF_MAP [TOP]\n');
    process.exit(2);
  }
  const rows = [...selfByFunction(dump, readPerfMap(map))].sort((a, b) => b[1] - a[1]).slice(0, Number(top ?? 40));
  for (const [name, ir] of rows) console.log(`${String(ir).padStart(14)}  ${name}`);
}
