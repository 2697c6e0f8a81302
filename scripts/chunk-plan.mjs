// Which chunk each of tspuma's modules goes to, read from tsc's output, and the rules a plan must
// keep (checked here; a broken rule fails the build, naming the module and its chunk).
//
// The modules are grouped by the kind of process that loads them (CHUNKS: `boot` for every
// serving process, `serving` for single mode and workers, `primary`, one a command (ctl, inspect,
// probe, replay, doctor)...). Every dynamic import() of one of tspuma's modules is a lazy
// boundary: its target belongs to a named chunk, or is a chunk of its own (an on-demand module:
// health, proxy-protocol...). A module several chunks use goes to the one the others all load
// with them (`needs`), else to `boot`, or to `common` when a command uses it too (so that `tspuma
// ctl` does not read the server's boot chunk). Then the folder rule: a chunk never mixes server/,
// diagnostics/ and inspector/ (capture.ts, culprit.ts and inspector/probes.ts tell tspuma's own
// frames by folder), so a module placed in another folder's chunk moves to its own folder's
// `shared` chunk. `pinned` modules go where they are told whatever uses them: app-stacks.ts's
// three wrapper modules to a chunk of their own (it drops that file's frames from the app's
// stacks), the log redaction rules (every process) to theirs.
import { parse } from 'acorn';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The bin: cli.ts alone, run at once; everything else it reaches through import(). */
export const BIN = 'server/cli.js';
/** The package entry: a file of its own that reads its names from the chunk holding index.ts. */
export const PACKAGE_ENTRY = 'server/index.js';

/**
 * The chunks. `roots`: the modules that define the kind of process (a module goes to the chunk
 * whose roots alone reach it). `needs`: chunks whose files this chunk's file imports statically
 * (read with it, in every process that reads it); a static import toward any other chunk is an
 * error. `pinned`: modules placed here whatever reaches them.
 */
export const CHUNKS = [
  // Every serving process: options, logger, signals, the serve command itself.
  { name: 'boot', file: 'server/boot.chunk.js', roots: ['server/cli/serve.js', 'server/tick-object-shape.js'], needs: ['common', 'redact'] },
  // What the commands (ctl, inspect, probe, replay, doctor) share with the server.
  // The bundle's name tables (read by the logger's stacks, dumps, probes and profiles) among them,
  // and the chunks' own source maps (server/chunk-maps.ts: the logger's stacks and debug mode's frames).
  { name: 'common', file: 'server/common.chunk.js', roots: [], needs: [], pinned: ['server/name-tables.js', 'server/chunk-maps.js'] },
  // Request handling: single mode and cluster workers (never a cluster primary).
  { name: 'serving', file: 'server/serving.chunk.js', roots: ['server/single.js', 'server/app-loader.js', 'server/app-loading.js', 'server/stop-signal-owner.js', 'server/index.js', 'server/start.js'], needs: ['boot'] },
  { name: 'worker', file: 'server/cluster/worker.chunk.js', roots: ['server/cluster/worker.js'], needs: ['serving'] },
  { name: 'primary', file: 'server/cluster/primary.chunk.js', roots: ['server/cluster/run.js'], needs: ['boot'] },
  { name: 'typescript', file: 'server/typescript.chunk.js', roots: ['server/ts-loader.js'], needs: ['boot'] },
  { name: 'control', file: 'server/control.chunk.js', roots: ['server/control.js', 'server/cluster/probe-registry.js', 'server/probe-host.js'], needs: ['boot'] },
  // The commands, each a chunk of its own (what two of them share is in `common`).
  ...Object.entries({ ctl: [], inspect: [], probe: [], replay: ['redact'], doctor: [] }).map(([c, more]) => ({ name: c, file: `server/cli/${c}.chunk.js`, roots: [`server/cli/${c}.js`], needs: ['common', ...more], command: true })),
  // The log redaction rules: every process's logger; the one diagnostics module a plain server runs.
  { name: 'redact', file: 'diagnostics/redact.chunk.js', roots: [], pinned: ['diagnostics/redact.js'] },
  { name: 'diagnostics', file: 'diagnostics/diagnostics.chunk.js', roots: ['diagnostics/index.js'], needs: ['boot', 'diagnostics-shared', 'inspector-shared'] },
  // debug mode's wrappers (the app call, timers, request events): app-stacks.ts drops this file's frames.
  { name: 'app-calls', file: 'diagnostics/app-calls.chunk.js', roots: [], pinned: ['diagnostics/index.js', 'diagnostics/attribution.js', 'diagnostics/call-context.js'], needs: ['diagnostics'] },
  // --inspect (and -d) in single mode and a worker: discovery's setup and the inspector's opening,
  // alone (16 KB). With the rest they were 194 KB and the control chunk: 40 ms of a -d boot's main thread.
  { name: 'inspector', file: 'inspector/inspector.chunk.js', roots: ['inspector/setup.js', 'inspector/open.js'], needs: ['boot'] },
  // The clients of `tspuma inspect` and the cluster primary's DevTools (live stacks, autopsies).
  { name: 'inspector-more', file: 'inspector/more.chunk.js', roots: ['inspector/remote.js', 'inspector/primary-devtools.js'], needs: ['app-calls', 'inspector'] },
  // The probe engine (--control-url): a serving process's; a -d primary never runs it (148 KB).
  { name: 'probes', file: 'inspector/probes.chunk.js', roots: ['inspector/probes.js'], needs: ['app-calls', 'control', 'inspector'] },
  // A folder's modules that another folder's chunk uses (rendering a dump from the bin; the pause rescuer from capture.ts).
  { name: 'diagnostics-shared', file: 'diagnostics/shared.chunk.js', roots: [], needs: ['common', 'redact'] },
  { name: 'inspector-shared', file: 'inspector/shared.chunk.js', roots: [], needs: ['boot'] },
  { name: 'server-shared', file: 'server/shared.chunk.js', roots: [], needs: ['boot'] },
];

/**
 * The thread entries (and the side thread's duty modules), each bundled alone into its own file by
 * scripts/thread-bundles.mjs: a thread's loader would read tsc's per-module files one by one.
 */
export const THREADS = ['inspector/discovery-thread.js', 'inspector/pause-rescue-thread.js', 'inspector/probe-resume-thread.js', 'server/side-thread-entry.js', 'server/cluster/primary-watch-thread.js'];

/** What must load only on demand, each in a chunk of its own (primary-modules.test's promises). */
export const ALONE = ['server/health.js', 'server/proxy-protocol.js', 'server/tls-files.js', 'server/cluster/preload-check.js', 'server/cluster/worker-stderr.js'];

const folderOf = (p) => p.split('/')[0];
const rel = (from, spec) => path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
const isOwn = (spec) => /^\.\.?\//.test(spec) && spec.endsWith('.js');

function names(pattern, out) {
  if (pattern.type === 'Identifier') out.push(pattern.name);
  else if (pattern.type === 'ObjectPattern') for (const prop of pattern.properties) names(prop.value ?? prop.argument, out);
  else if (pattern.type === 'ArrayPattern') for (const el of pattern.elements) if (el) names(el, out);
  else if (pattern.type === 'RestElement') names(pattern.argument, out);
  else if (pattern.type === 'AssignmentPattern') names(pattern.left, out);
}

/**
 * The module graph from tsc's output: for each module (dist-relative path) its static and dynamic
 * imports of tspuma's modules, its export names and its source. `fileOf(p)` is where tsc's file is.
 * @returns {Map<string, { statics: string[], dynamics: string[], exports: string[], stars: string[], source: string }>}
 */
export function readGraph(fileOf) {
  const modules = new Map();
  const read = (p) => {
    if (modules.has(p)) return;
    const source = readFileSync(fileOf(p), 'utf8');
    const info = { statics: [], dynamics: [], exports: [], stars: [], source };
    modules.set(p, info);
    const ast = parse(source, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true });
    const walk = (node) => {
      if (!node || typeof node.type !== 'string') return;
      if (node.type === 'ImportExpression' && node.source.type === 'Literal' && isOwn(node.source.value)) info.dynamics.push(rel(p, node.source.value));
      for (const key of Object.keys(node)) {
        const v = node[key];
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v.type === 'string') walk(v);
      }
    };
    for (const node of ast.body) {
      if ((node.type === 'ImportDeclaration' || node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source && isOwn(node.source.value)) info.statics.push(rel(p, node.source.value));
      if (node.type === 'ExportNamedDeclaration') {
        const d = node.declaration;
        if (d?.type === 'VariableDeclaration') for (const decl of d.declarations) names(decl.id, info.exports);
        else if (d) info.exports.push(d.id.name);
        for (const s of node.specifiers) info.exports.push(s.exported.name ?? s.exported.value);
      } else if (node.type === 'ExportDefaultDeclaration') info.exports.push('default');
      else if (node.type === 'ExportAllDeclaration') {
        if (node.exported) info.exports.push(node.exported.name);
        else info.stars.push(rel(p, node.source.value));
      }
      walk(node);
    }
    for (const t of [...info.statics, ...info.dynamics]) read(t);
  };
  read(BIN);
  read(PACKAGE_ENTRY);
  for (const c of CHUNKS) for (const r of c.roots) read(r);
  return modules;
}

/** A module's export names, `export * from` followed (default excluded from stars, as ESM does). */
export function exportNames(modules, p, seen = new Set()) {
  if (seen.has(p)) return [];
  seen.add(p);
  const info = modules.get(p);
  return [...new Set([...info.exports, ...info.stars.flatMap((s) => exportNames(modules, s, seen).filter((n) => n !== 'default'))])];
}

/**
 * The plan: the chunks (CHUNKS plus one for each on-demand module) and each module's chunk.
 * Throws, listing every broken rule, when the plan breaks one.
 */
export function planChunks(modules) {
  const chunks = CHUNKS.map((c) => ({ ...c, roots: [...c.roots], needs: [...(c.needs ?? [])], pinned: [...(c.pinned ?? [])] }));
  const staticClosure = (p, out = new Set()) => {
    if (out.has(p)) return out;
    out.add(p);
    for (const s of modules.get(p).statics) staticClosure(s, out);
    return out;
  };
  const pinned = new Map(chunks.flatMap((c) => c.pinned.map((p) => [p, c.name])));
  // A dynamic import whose target no chunk's roots reach statically (or that must stay alone): a
  // chunk of its own, with what it alone imports.
  const reachedStatically = new Set(chunks.flatMap((c) => c.roots.flatMap((r) => [...staticClosure(r)])));
  for (const [p, info] of modules) {
    if (p === BIN) continue;
    for (const t of info.dynamics) {
      if (chunks.some((c) => c.roots.includes(t)) || pinned.has(t)) continue;
      if (reachedStatically.has(t) && !ALONE.includes(t)) continue;
      const name = t.replace(/\.js$/, '');
      // Loaded by a serving process (the checks below name it if not).
      chunks.push({ name, file: `${name}.chunk.js`, roots: [t], needs: ['boot'], pinned: [] });
      for (const m of staticClosure(t)) reachedStatically.add(m);
    }
  }
  const roots = new Set(chunks.flatMap((c) => c.roots));
  // module -> the chunks whose roots reach it (statically, or through a dynamic import of a
  // module that is no chunk's root).
  const reachedBy = new Map();
  for (const c of chunks) {
    const walk = (p) => {
      if (reachedBy.get(p)?.has(c.name)) return;
      if (!reachedBy.has(p)) reachedBy.set(p, new Set());
      reachedBy.get(p).add(c.name);
      const info = modules.get(p);
      for (const s of info.statics) walk(s);
      for (const d of info.dynamics) if (!roots.has(d)) walk(d);
    };
    for (const r of c.roots) walk(r);
  }
  const problems = [];
  for (const t of modules.get(BIN).dynamics) if (!reachedBy.has(t)) problems.push(`${t}: imported by the bin, in no chunk`);
  const byName = new Map(chunks.map((c) => [c.name, c]));
  for (const c of chunks) for (const n of c.needs) if (!byName.has(n)) problems.push(`chunk ${c.name} needs ${n}, which is no chunk`);
  if (problems.length) throw new Error(`the chunk plan is broken:\n${problems.join('\n')}`);
  /** The chunks a chunk's file loads with it, itself excluded (its needs, theirs...). */
  const needsOf = (n, out = new Set()) => {
    for (const d of byName.get(n).needs) if (!out.has(d)) needsOf(d, out.add(d));
    return out;
  };
  const order = chunks.map((c) => c.name);
  /** @type {Map<string, string>} module -> chunk name */
  const chunkOf = new Map();
  for (const [p, set] of reachedBy) {
    if (p === BIN) continue;
    let chunk = pinned.get(p);
    if (chunk === undefined) {
      const using = order.filter((n) => set.has(n));
      chunk = using.find((c) => using.every((d) => d === c || needsOf(d).has(c)));
      if (chunk === undefined) chunk = using.some((n) => byName.get(n).command) ? 'common' : 'boot';
      const own = folderOf(p);
      if (folderOf(byName.get(chunk).file) !== own) chunk = `${own}-shared`;
    }
    if (!byName.has(chunk)) throw new Error(`${p}: its chunk ${chunk} is not declared in scripts/chunk-plan.mjs CHUNKS`);
    chunkOf.set(p, chunk);
  }
  for (const c of chunks) for (const p of c.pinned) if (!chunkOf.has(p)) problems.push(`${p}: pinned to chunk ${c.name}, but no chunk's roots reach it`);

  // The rules, each broken one named.
  for (const [p, n] of chunkOf) {
    const file = byName.get(n).file;
    if (folderOf(file) !== folderOf(p)) problems.push(`${p} is in chunk ${n} (${file}): a chunk never mixes folders`);
    for (const s of modules.get(p).statics) {
      const to = chunkOf.get(s);
      if (to !== n && !needsOf(n).has(to)) problems.push(`${p} (chunk ${n}) imports ${s} (chunk ${to}) statically, and chunk ${n} does not name ${to} in its needs`);
    }
  }
  for (const p of ALONE) {
    const n = chunkOf.get(p);
    if (n === undefined) problems.push(`${p}: on demand, but in no chunk`);
    else if ([...chunkOf].some(([q, m]) => m === n && q !== p && !staticClosure(p).has(q))) problems.push(`${p}: on demand, but its chunk ${n} holds other modules`);
    else {
      const users = [...chunkOf].filter(([q, m]) => m !== n && modules.get(q).statics.includes(p)).map(([q, m]) => `${q} (${m})`);
      if (users.length) problems.push(`${p}: on demand, but imported statically by ${users.join(', ')}`);
    }
  }
  for (const c of chunks) for (const p of c.pinned) if (chunkOf.has(p) && chunkOf.get(p) !== c.name) problems.push(`${p}: pinned to ${c.name}, placed in ${chunkOf.get(p)}`);
  const appCalls = [...chunkOf].filter(([, n]) => n === 'app-calls').map(([p]) => p).sort();
  const wanted = [...byName.get('app-calls').pinned].sort();
  if (JSON.stringify(appCalls) !== JSON.stringify(wanted)) problems.push(`chunk app-calls holds ${appCalls.join(', ')}: app-stacks.ts drops every frame of its file, so it must hold exactly ${wanted.join(', ')}`);
  const appCallsFile = path.posix.basename(byName.get('app-calls').file);
  if (!modules.get('diagnostics/app-stacks.js')?.source.includes(`'${appCallsFile}'`)) problems.push(`diagnostics/app-stacks.ts does not name ${appCallsFile}, the chunk whose frames it must drop`);
  if (problems.length) throw new Error(`the chunk plan breaks its rules (scripts/chunk-plan.mjs):\n${problems.join('\n')}`);
  const used = chunks.filter((c) => [...chunkOf.values()].includes(c.name));
  return { chunks: used, chunkOf, needsOf };
}

/** esbuild's options every bundle of the build shares (the chunks in build.mjs, the thread entries in thread-bundles.mjs): ES modules for node 20, packages left to node, source maps chained to tsc's. */
export const BUNDLE_OPTIONS = Object.freeze({ bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'warning' });
