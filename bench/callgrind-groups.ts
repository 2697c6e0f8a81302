// Issue 27's whole-request accounting, by group: reads what `FUNCTIONS=N MODE=callgrind node
// dist/bench/cpu-per-request.js ...` printed (each target's self instructions a request by
// function, its last window) and sums each target's functions into groups (node's http, net,
// stream and events JavaScript; V8's IC handlers and other builtins; the interpreter; GC; the
// compilers; Hono; @hono/node-server; tspuma's fetch adapter; tspuma's request path; node's and
// V8's C++), then prints the groups side by side and each pair's difference. Give FUNCTIONS a
// number larger than any target's function count (100000) so that nothing is left out.
//   node dist/bench/callgrind-groups.js OUTPUT.txt [A=B ...]     (A - B for each pair; default:
//   each target against the one before it)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Ordered: the first group whose test matches a function's name takes it. */
const GROUPS: [string, RegExp][] = [
  // tsc's build names a module's file; the bundled build (scripts/build.mjs) names its chunk and,
  // in brackets, the module it came from (callgrind-functions.ts shortName).
  ['tspuma: fetch adapter (fetch-request, fetch-response, fetch-globals, adapters)', /(dist\/|\[)server\/(fetch-request|fetch-response|fetch-globals|adapters)\.js/],
  ['tspuma: response writer (response.js)', /(dist\/|\[)server\/response\.js/],
  ['tspuma: request path (other dist/server, dist/diagnostics)', /dist\/(server|diagnostics)\//],
  // callgrind-functions.ts shortens a path to what follows its last dist/ or node_modules/:
  // @hono/node-server's code is dist/index.mjs, Hono's the other dist/ files outside tspuma's folders.
  ['@hono/node-server (dist/index.mjs)', /node_modules\/@hono\/| dist\/index\.mjs:/],
  ['the app module', /dist\/bench\/|bench\/[a-z-]+\.ts/],
  ['Hono (dist/*.js outside tspuma\'s folders)', /node_modules\/hono\/| dist\/(?!server\/|bench\/|diagnostics\/|inspector\/|vendor\/)\S+\.js:/],
  ['undici (node:internal/deps/undici)', /undici/],
  ['node JS: http (_http_*)', / node:_http_/],
  ['node JS: net, stream_base, timers', / node:(net|internal\/stream_base_commons|internal\/timers|timers)\b/],
  ['node JS: streams', / node:internal\/streams\//],
  ['node JS: events', / node:events/],
  ['node JS: async_hooks, process ticks', / node:internal\/(async_hooks|process\/task_queues|process\/)/],
  ['node JS: other', / node:/],
  ['V8 builtins: IC handlers', /^Builtin:(Keyed)?(Load|Store|DefineNamedOwn|DefineKeyedOwn|LoadGlobal|StoreGlobal|HasIC|KeyedHas)\w*IC|^Builtin:\w*IC_|^Builtin:\w*ICTrampoline|^Builtin:(LoadIC|StoreIC|KeyedLoadIC|KeyedStoreIC)/],
  ['V8 builtins: promises, microtasks', /^Builtin:.*(Promise|Microtask|Await|AsyncFunction|AsyncGenerator)/],
  ['V8 builtins: construct, call, new object', /^Builtin:.*(Construct|Call|FastNewObject|FastNewClosure|CreateShallow|CloneObject|ArgumentsAdaptor|Apply)/],
  ['V8 builtins: strings', /^Builtin:.*(String|ToString|NumberPrototypeToString)/],
  ['V8 interpreter (bytecode handlers)', /^(BytecodeHandler|Builtin:.*(Interpreter|BytecodeHandler|Ignition)|Builtin:\w+Handler$)/],
  ['V8 builtins: other', /^(Builtin|RegExp):/],
  ['GC', /Scaveng|Heap::|heap::|MarkCompact|MinorMark|GCTracer|Sweeper|Evacuat|ConcurrentMarking|IterateObjectCache|MemoryAllocator|PagedSpace|NewSpace|LocalHeap|Marking|RememberedSet|SlotSet/],
  ['V8 compilers (TurboFan, Maglev, Sparkplug)', /compiler::|maglev|Maglev|baseline::|Turbofan|TurboFan|OptimizedCompilationJob|Pipeline|Zone|wasm::/],
  ['V8 JS code without a name (stubs, other)', /^(JS|LazyCompile|Function):|^Stub:|^Handler:/],
  ['V8 C++: runtime, ICs, objects', /v8::|Runtime_|Builtin_/],
  ['llhttp', /llhttp/],
  ['libuv', /^uv_|^uv__/],
  ['node C++', /node::|<node::/],
  ['libc, libstdc++, kernel entry', /^(_?_?mem|str|malloc|free|calloc|realloc|__libc|__GI|_int_|pthread|epoll|read|write|syscall|operator new|operator delete|std::)/],
];

interface Target {
  name: string;
  functions: Map<string, number>;
}

function parse(text: string): Target[] {
  const out: Target[] = [];
  let cur: Target | null = null;
  for (const line of text.split('\n')) {
    const head = /^(\S+): self instructions per request, top \d+$/.exec(line);
    if (head) {
      cur = { name: head[1]!, functions: new Map() };
      out.push(cur);
      continue;
    }
    if (/^\S+ - \S+: self instructions/.test(line) || /^CALLERS=/.test(line)) {
      cur = null;
      continue;
    }
    const row = /^\s*(-?[\d.]+)\s{2}(.+)$/.exec(line);
    if (row && cur) cur.functions.set(row[2]!, (cur.functions.get(row[2]!) ?? 0) + Number(row[1]));
  }
  return out;
}

export function groupOf(name: string): string {
  for (const [group, test] of GROUPS) if (test.test(name)) return group;
  return 'other (unnamed C++, libraries)';
}

function groups(t: Target): Map<string, number> {
  const g = new Map<string, number>();
  for (const [name, ir] of t.functions) g.set(groupOf(name), (g.get(groupOf(name)) ?? 0) + ir);
  return g;
}

function main(): void {
  const [file, ...pairs] = process.argv.slice(2);
  if (!file) throw new Error('usage: callgrind-groups.js OUTPUT.txt [A=B ...]');
  const targets = parse(readFileSync(file, 'utf8'));
  const byName = new Map(targets.map((t) => [t.name, t] as const));
  const chosen = pairs.length > 0 ? pairs.map((p) => p.split('=') as [string, string]) : targets.slice(1).map((t, i) => [t.name, targets[i]!.name] as [string, string]);
  const order = [...GROUPS.map(([g]) => g), 'other (unnamed C++, libraries)'];
  const TOP = Number(process.env.TOP ?? 8);
  for (const [a, b] of chosen) {
    const ta = byName.get(a);
    const tb = byName.get(b);
    if (!ta || !tb) throw new Error(`no function list for ${!ta ? a : b} in ${file}`);
    const ga = groups(ta);
    const gb = groups(tb);
    const total = (g: Map<string, number>) => [...g.values()].reduce((s, v) => s + v, 0);
    console.log(`\n| group (self instructions a request, last window) | ${b} | ${a} | ${a} - ${b} |`);
    console.log('| --- | ---: | ---: | ---: |');
    for (const g of order) {
      const va = ga.get(g) ?? 0;
      const vb = gb.get(g) ?? 0;
      if (Math.round(va) === 0 && Math.round(vb) === 0) continue;
      const d = va - vb;
      console.log(`| ${g} | ${Math.round(vb)} | ${Math.round(va)} | ${d > 0 ? '+' : ''}${Math.round(d)} |`);
    }
    const d = total(ga) - total(gb);
    console.log(`| **all** | ${Math.round(total(gb))} | ${Math.round(total(ga))} | ${d > 0 ? '+' : ''}${Math.round(d)} |`);
    // Each group's largest differences by function, to name what a row is made of.
    console.log(`\n${a} - ${b}: each group's ${TOP} largest differences by function`);
    for (const g of order) {
      const names = new Set([...ta.functions.keys(), ...tb.functions.keys()].filter((n) => groupOf(n) === g));
      const diffs = [...names].map((n) => [n, (ta.functions.get(n) ?? 0) - (tb.functions.get(n) ?? 0)] as const).filter(([, v]) => Math.abs(v) >= 0.5);
      if (diffs.length === 0) continue;
      diffs.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
      console.log(`  ${g}:`);
      for (const [n, v] of diffs.slice(0, TOP)) console.log(`${(v > 0 ? '+' : '') + Math.round(v)}`.padStart(10) + `  ${n}`);
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
