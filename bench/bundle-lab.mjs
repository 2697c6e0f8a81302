// A lab, not the build: bundles a built copy of tspuma (`npm run build` done in it) so that a boot
// reads a handful of files instead of ~70, to measure what a bundled build would give (issue 31's
// boot CPU, issue 27's EventEmitter.init feedback and the listener row's instructions) before
// making one. Run it on a copy, never on the checkout you test:
//
//   cp -a <checkout> /tmp/copy && node bench/bundle-lab.mjs /tmp/copy/dist
//
// It rewrites that dist/ in place: dist/server/cli.js (the bin) and dist/server/index.js (the
// package entry) become the bundle's (tsc's own are kept in dist/tsc-entries/ and read from there
// on a later run), and `*.chunk.js` files beside them hold the code; tsc's other files stay (the
// thread entries still load them, in their own threads). bench/README.md, "Session 16 (bundle1)",
// has what it measured and what stands between it and a real build (esbuild renames a function's
// locals that share a name with any top-level name in the chunk, which a dump shows; frames are
// told apart per module in diagnostics/app-stacks.ts; the module-list tests).
//
// How the modules are grouped. Every dynamic import() of one of tspuma's modules is a lazy
// boundary, as in esbuild's own code splitting; but where esbuild makes a file of every distinct
// set of importers (about 40 files a .mjs boot), a boundary here belongs to a named chunk (CHUNKS:
// the modules that load together in one kind of process); a module used by several chunks goes
// to the one the others all load with them (`needs`), else to `boot`. Nothing is evaluated earlier
// than before: inside a chunk every module is wrapped by esbuild (`__esm`) and runs when something
// first imports it, in the order ESM would run it; a chunk's file only defines its modules until
// then. A chunk reaches another chunk's module through a getter that runs it (`$N()`): statically
// where the module was imported statically (that chunk's file is then read with it, so only
// toward `boot` or a chunk named in `needs`: checked), else through import().
//
// import.meta.url keeps naming the module's own place in dist/ (thread entries, pino's bundle,
// package.json and the frame-path checks resolve against it as before). Source maps chain tsc's
// maps back to the .ts lines.
import { build } from 'esbuild';
import { parse } from 'acorn';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
if (!process.argv[2]) throw new Error('usage: node bench/bundle-lab.mjs COPY/dist (a built copy of the checkout, rewritten in place)');
const DIST = path.resolve(process.argv[2]);
if (DIST === path.join(ROOT, 'dist')) throw new Error(`${DIST} is this checkout's own dist/: bundle a copy (the suite and the unit tests read this one)`);

/**
 * The chunks, in load order: a module goes to the first chunk whose roots reach it (statically,
 * or through a dynamic import inside that chunk's own modules), unless a later chunk's roots
 * alone reach it. `file` is the chunk's path under dist/.
 */
const CHUNKS = [
  // Every serving process: options, logger, signals, the serve command itself.
  { name: 'boot', file: 'server/boot.chunk.js', roots: ['server/cli/serve.js', 'server/tick-object-shape.js'] },
  // Request handling: single mode and cluster workers (never a cluster primary).
  { name: 'serving', file: 'server/serving.chunk.js', roots: ['server/single.js', 'server/app-loader.js', 'server/app-loading.js', 'server/stop-signal-owner.js', 'server/index.js', 'server/start.js'] },
  { name: 'worker', file: 'server/cluster/worker.chunk.js', roots: ['server/cluster/worker.js'], needs: ['serving'] },
  { name: 'primary', file: 'server/cluster/primary.chunk.js', roots: ['server/cluster/run.js'] },
  { name: 'typescript', file: 'server/typescript.chunk.js', roots: ['server/ts-loader.js'] },
  { name: 'control', file: 'server/control.chunk.js', roots: ['server/control.js', 'server/cluster/probe-registry.js', 'server/probe-host.js'] },
  { name: 'commands', file: 'server/cli/commands.chunk.js', roots: ['server/cli/ctl.js', 'server/cli/inspect.js', 'server/cli/probe.js', 'server/cli/replay.js', 'server/cli/doctor.js'] },
  { name: 'diagnostics', file: 'diagnostics/diagnostics.chunk.js', roots: ['diagnostics/index.js'] },
  { name: 'inspector', file: 'inspector/inspector.chunk.js', roots: ['inspector/setup.js', 'inspector/open.js', 'inspector/remote.js', 'inspector/primary-devtools.js', 'inspector/probes.js'], needs: ['diagnostics'] },
];
/** The bin: cli.ts alone, run at once; everything else it reaches through import(). */
const BIN = 'server/cli.js';
/** The package entry: a file of its own that reads its names from the chunk holding index.ts. */
const PACKAGE_ENTRY = 'server/index.js';

// ---- tsc's own output of the two files this build replaces, kept aside ----

/** Where tsc's cli.js and index.js (and their maps) are kept once replaced: the bundle reads them from there. */
const STASH = path.join(DIST, 'tsc-entries');
const MARK = '// bundled by bench/bundle-lab.mjs';
for (const p of [BIN, PACKAGE_ENTRY]) {
  const built = path.join(DIST, p);
  const text = readFileSync(built, 'utf8');
  // tsc wrote it again (its source changed, or a clean build): keep that one.
  if (text.includes(MARK) && !existsSync(path.join(STASH, p))) throw new Error(`${built} is a built file and tsc's own is gone from ${STASH}: copy a freshly built checkout again`);
  if (!text.includes(MARK)) {
    mkdirSync(path.dirname(path.join(STASH, p)), { recursive: true });
    writeFileSync(path.join(STASH, p), text);
    if (existsSync(`${built}.map`)) writeFileSync(path.join(STASH, `${p}.map`), readFileSync(`${built}.map`));
  }
}
/** The file tsc wrote for module `p` (dist-relative). */
const srcOf = (p) => path.join(p === BIN || p === PACKAGE_ENTRY ? STASH : DIST, p);
/** Module `p` of a file esbuild reads (tsc's output, or the stash). */
const logical = (file) => path.relative(file.startsWith(STASH + path.sep) ? STASH : DIST, file).split(path.sep).join('/');

// ---- the module graph, read from tsc's output ----

/** @type {Map<string, { statics: string[], dynamics: string[], exports: string[], stars: string[], source: string }>} */
const modules = new Map();
const rel = (from, spec) => path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
const isOwn = (spec) => /^\.\.?\//.test(spec) && spec.endsWith('.js');

function read(p) {
  if (modules.has(p)) return modules.get(p);
  const source = readFileSync(srcOf(p), 'utf8');
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
  return info;
}

function names(pattern, out) {
  if (pattern.type === 'Identifier') out.push(pattern.name);
  else if (pattern.type === 'ObjectPattern') for (const prop of pattern.properties) names(prop.value ?? prop.argument, out);
  else if (pattern.type === 'ArrayPattern') for (const el of pattern.elements) if (el) names(el, out);
  else if (pattern.type === 'RestElement') names(pattern.argument, out);
  else if (pattern.type === 'AssignmentPattern') names(pattern.left, out);
}

/** A module's export names, `export * from` followed (default excluded from stars, as ESM does). */
function exportNames(p, seen = new Set()) {
  if (seen.has(p)) return [];
  seen.add(p);
  const info = modules.get(p);
  return [...new Set([...info.exports, ...info.stars.flatMap((s) => exportNames(s, seen).filter((n) => n !== 'default'))])];
}

read(BIN);
read(PACKAGE_ENTRY);
for (const c of CHUNKS) for (const r of c.roots) read(r);

// ---- which chunk each module is in ----

const staticClosure = (p, out = new Set()) => {
  if (out.has(p)) return out;
  out.add(p);
  for (const s of modules.get(p).statics) staticClosure(s, out);
  return out;
};
// A dynamic import whose target no chunk's roots reach statically: an on-demand module, a chunk
// of its own (with what it alone imports).
const reachedStatically = new Set(CHUNKS.flatMap((c) => c.roots.flatMap((r) => [...staticClosure(r)])));
for (const [p, info] of modules) {
  if (p === BIN) continue;
  for (const t of info.dynamics) {
    if (reachedStatically.has(t)) continue;
    const name = t.replace(/\.js$/, '');
    CHUNKS.push({ name, file: `${name}.chunk.js`, roots: [t] });
    for (const m of staticClosure(t)) reachedStatically.add(m);
  }
}
const roots = new Set(CHUNKS.flatMap((c) => c.roots));
/**
 * module -> the chunks that use it: their roots reach it statically, or through a dynamic import
 * (of a module that is no chunk's root) in one of their modules.
 */
const reachedBy = new Map();
for (const c of CHUNKS) {
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
for (const t of modules.get(BIN).dynamics) if (!reachedBy.has(t)) throw new Error(`${t}: imported by the bin, in no chunk`);
const ORDER = CHUNKS.map((c) => c.name);
const chunkByName = new Map(CHUNKS.map((c) => [c.name, c]));
/** @type {Map<string, string>} module -> chunk name */
const chunkOf = new Map();
const needs = (n, out = new Set()) => {
  for (const d of chunkByName.get(n).needs ?? []) if (!out.has(d)) needs(d, out.add(d));
  return out;
};
for (const [p, set] of reachedBy) {
  // Reached from several chunks: the one the others all load with them, else boot (every serving process loads it).
  const names = ORDER.filter((n) => set.has(n));
  const chunk = names.find((c) => names.every((d) => d === c || needs(d).has(c))) ?? 'boot';
  chunkOf.set(p, chunk);
}
chunkOf.delete(BIN);
const members = new Map(CHUNKS.map((c) => [c.name, [...chunkOf].filter(([, n]) => n === c.name).map(([p]) => p).sort()]));
const ids = new Map([...chunkOf.keys()].sort().map((p, i) => [p, `$${i}`]));

// A static import across chunks reads the other chunk's file with this one: only toward a chunk
// loaded before it in every process that loads this one. Checked here, named when broken.
const broken = [];
for (const [p, n] of chunkOf) {
  for (const s of modules.get(p).statics) {
    const to = chunkOf.get(s);
    if (to !== n && to !== 'boot' && !(chunkByName.get(n).needs ?? []).includes(to)) broken.push(`${p} (chunk ${n}) imports ${s} (chunk ${to}) statically`);
  }
}
if (broken.length) throw new Error(`a chunk's file would load with another's, not declared in its needs:\n${broken.join('\n')}`);

// ---- the bundle ----

const fileOf = (p) => (p === BIN ? BIN : chunkByName.get(chunkOf.get(p)).file);
const relFile = (fromFile, toFile) => {
  const r = path.posix.relative(path.posix.dirname(fromFile), toFile);
  return r.startsWith('.') ? r : `./${r}`;
};

const entryPoints = { [BIN.replace(/\.js$/, '')]: srcOf(BIN) };
for (const c of CHUNKS) entryPoints[c.file.replace(/\.js$/, '')] = `virtual:${c.file}`;

const plugin = {
  name: 'tspuma-chunks',
  setup(b) {
    b.onResolve({ filter: /^virtual:/ }, (a) => ({ path: a.path.slice('virtual:'.length), namespace: 'chunk-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'chunk-entry' }, (a) => {
      const c = CHUNKS.find((x) => x.file === a.path);
      const lines = members.get(c.name).map((p) => `export const ${ids.get(p)} = () => require(${JSON.stringify(srcOf(p))});`);
      return { contents: lines.join('\n') + '\n', resolveDir: DIST, loader: 'js' };
    });
    // A module of another chunk, imported statically: its names through that chunk's getter.
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (a) => {
      if (a.namespace !== 'file' || !a.importer.startsWith(DIST)) return undefined;
      const from = logical(a.importer);
      const to = rel(from, a.path);
      if (!chunkOf.has(to)) return undefined;
      if (fileOf(from) === fileOf(to)) return { path: srcOf(to) };
      return { path: `${from}\0${to}`, namespace: 'proxy' };
    });
    b.onLoad({ filter: /.*/, namespace: 'proxy' }, (a) => {
      const [from, to] = a.path.split('\0');
      return { contents: proxySource(fileOf(from), to), resolveDir: DIST, loader: 'js' };
    });
    b.onResolve({ filter: /\.chunk\.js$/ }, (a) => (a.namespace === 'proxy' || a.namespace === 'file' ? { path: a.path, external: true } : undefined));
    b.onLoad({ filter: /\.js$/ }, (a) => {
      if (!a.path.startsWith(DIST + path.sep)) return undefined;
      const p = logical(a.path);
      const file = fileOf(p);
      let code = modules.get(p)?.source ?? readFileSync(a.path, 'utf8');
            // This module's own URL, as tsc's output had it.
      code = code.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(relFile(file, p))}, import.meta.url).href`);
      // A dynamic import of another chunk's module: that chunk's file, then its getter.
      code = code.replace(/\bimport\((['"])(\.\.?\/[^'"]+\.js)\1\)/g, (m, _q, spec) => {
        const to = rel(p, spec);
        if (!chunkOf.has(to) || fileOf(to) === file) return m;
        return `import(${JSON.stringify(relFile(file, fileOf(to)))}).then((chunk) => chunk.${ids.get(to)}())`;
      });
      return { contents: code, loader: 'js', resolveDir: path.dirname(a.path) };
    });
  },
};

function proxySource(fromFile, to) {
  const names = exportNames(to);
  const plain = names.filter((n) => n !== 'default');
  return [
    `import { ${ids.get(to)} as get } from ${JSON.stringify(relFile(fromFile, fileOf(to)))};`,
    'const ns = get();',
    plain.length ? `export const { ${plain.join(', ')} } = ns;` : '',
    names.includes('default') ? 'export default ns.default;' : '',
  ].join('\n');
}

// Old chunks out (a chunk renamed or gone must not linger).
for (const dir of ['server', 'server/cli', 'server/cluster', 'diagnostics', 'inspector']) {
  for (const f of readdirSync(path.join(DIST, dir))) if (/\.chunk\.js(\.map)?$/.test(f)) rmSync(path.join(DIST, dir, f));
}

const result = await build({
  entryPoints,
  outdir: DIST,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
  allowOverwrite: true,
  // After the code, so that tsc's source maps (chained) keep their lines.
  footer: { js: MARK },
  plugins: [plugin],
});

// The package entry: index.ts's names, from its chunk.
{
  const names = exportNames(PACKAGE_ENTRY);
  const file = fileOf(PACKAGE_ENTRY);
  const out = [
    `${MARK}: tspuma's package entry, index.ts's names from the chunk that holds it.`,
    `import { ${ids.get(PACKAGE_ENTRY)} as get } from ${JSON.stringify(relFile(PACKAGE_ENTRY, file))};`,
    'const ns = get();',
    `export const { ${names.filter((n) => n !== 'default').join(', ')} } = ns;`,
    '',
  ];
  writeFileSync(path.join(DIST, PACKAGE_ENTRY), out.join('\n'));
  rmSync(path.join(DIST, `${PACKAGE_ENTRY}.map`), { force: true });
}


if (process.env.REPORT) {
  for (const c of CHUNKS) console.log(`${c.file}: ${members.get(c.name).length} modules, ${Object.entries(result.metafile.outputs).find(([k]) => k.endsWith(`/${c.file}`))?.[1].bytes} bytes`);
}
