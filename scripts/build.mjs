// The second half of `npm run build` (after `tsc -b`, which type-checks and writes dist/ with the
// .d.ts files): groups tsc's modules into a few chunk files, so that a process tspuma starts reads
// a handful of files instead of ~70 (issue 31: a boot's CPU; issue 27: node's EventEmitter.init
// feedback stays polymorphic when fewer modules load). bench/README.md, "Session 17 (issues 31
// and 27, bundle2)", has the figures; docs/architecture.md, "The build", the layout.
//
//   node scripts/build.mjs [DIST]          (default: this checkout's dist/)
//   REPORT=1 node scripts/build.mjs        also lists each chunk's modules
//
// What it writes: dist/server/cli.js (the bin) and dist/server/index.js (the package entry) become
// the bundle's (tsc's own are kept in dist/tsc-entries/ and read from there by later builds), the
// `*.chunk.js` files beside tsc's output hold the code (scripts/chunk-plan.mjs says which module
// goes where, and fails the build when a rule is broken), and dist/chunks.json names each module's
// chunk. tsc's other files stay: the thread entries (side thread, discovery, the pause rescuer...)
// load them in their own threads, and the unit tests import them.
//
// Each module stays lazy: esbuild wraps it (`__esm`, keyed by its dist-relative path) and it runs
// when first imported, in ESM's order; a chunk's file only defines its modules until then. A
// chunk reaches another chunk's module through a getter that runs it (`$N()`): statically where
// the module was imported statically (that chunk's file is then read with it: only toward a chunk
// in its `needs`, checked), else through import(). import.meta.url keeps naming the module's own
// place in dist/ (thread entries, pino's bundle, package.json and the frame-folder checks resolve
// against it as before). Source maps chain through tsc's maps to the .ts lines.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BIN, BUNDLE_OPTIONS, PACKAGE_ENTRY, exportNames, planChunks, readGraph } from './chunk-plan.mjs';
import { writeNameTables } from './chunk-names.mjs';
import { bundleThreads } from './thread-bundles.mjs';
import { splitChunks } from './chunk-cache.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist'));

// ---- tsc's own output of the two files this build replaces, kept aside ----

/** Where tsc's cli.js and index.js (and their maps) are kept once replaced: the bundle reads them from there. */
const STASH = path.join(DIST, 'tsc-entries');
const MARK = '// bundled by scripts/build.mjs';
for (const p of [BIN, PACKAGE_ENTRY]) {
  const built = path.join(DIST, p);
  const text = readFileSync(built, 'utf8');
  // tsc wrote it again (its source changed, or a clean build): keep that one.
  if (text.includes(MARK) && !existsSync(path.join(STASH, p))) throw new Error(`${built} is this build's and tsc's own is gone from ${STASH}: remove dist/ and build again`);
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

const modules = readGraph(srcOf);
const { chunks, chunkOf } = planChunks(modules);
const chunkByName = new Map(chunks.map((c) => [c.name, c]));
const members = new Map(chunks.map((c) => [c.name, [...chunkOf].filter(([, n]) => n === c.name).map(([p]) => p).sort()]));
const ids = new Map([...chunkOf.keys()].sort().map((p, i) => [p, `$${i}`]));
const rel = (from, spec) => path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));

// ---- the bundle ----

const fileOf = (p) => (p === BIN ? BIN : chunkByName.get(chunkOf.get(p)).file);
const relFile = (fromFile, toFile) => {
  const r = path.posix.relative(path.posix.dirname(fromFile), toFile);
  return r.startsWith('.') ? r : `./${r}`;
};

const entryPoints = { [BIN.replace(/\.js$/, '')]: srcOf(BIN) };
for (const c of chunks) entryPoints[c.file.replace(/\.js$/, '')] = `virtual:${c.file}`;

const plugin = {
  name: 'tspuma-chunks',
  setup(b) {
    b.onResolve({ filter: /^virtual:/ }, (a) => ({ path: a.path.slice('virtual:'.length), namespace: 'chunk-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'chunk-entry' }, (a) => {
      const c = chunks.find((x) => x.file === a.path);
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
      return { path: `${from}|${to}`, namespace: 'proxy' };
    });
    b.onLoad({ filter: /.*/, namespace: 'proxy' }, (a) => {
      const [from, to] = a.path.split('|');
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
      // node's built-in modules taken when the module runs, not when its chunk loads (below).
      code = lazyBuiltins(code, p);
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

// A chunk's static imports all run when the chunk loads, whichever of its modules run: a bundle
// hoists them. So every module's import of a node built-in becomes a require() in the module's own
// body, run when the module first runs (each module is wrapped, below): a single server no longer
// loads node:cluster, child_process or worker_threads for the primary's and -d's modules that
// share its boot chunk. One line stays one line (the source maps' lines hold). The value is the
// built-in's exports read when the module runs, as an ES import of a built-in reads them when it
// is first imported.
const BUILTIN_IMPORT = /^import ([^'";]+) from (['"])(node:[a-z_/]+)\2;$/gm;
const REQUIRE = '__tspumaBuiltin';
function lazyBuiltins(code, p) {
  return code.replace(BUILTIN_IMPORT, (line, clause, _q, spec) => {
    const m = /^(?:([A-Za-z_$][\w$]*)\s*,?\s*)?(?:\{([^}]*)\}|\*\s+as\s+([A-Za-z_$][\w$]*))?\s*$/.exec(clause.trim());
    if (m === null) throw new Error(`${p}: an import of ${spec} this build cannot make lazy: ${line}`);
    const [, def, named, ns] = m;
    const decls = [];
    const load = `${REQUIRE}(${JSON.stringify(spec)})`;
    const whole = def ?? ns;
    if (whole !== undefined) decls.push(`${whole} = ${load}`);
    if (named !== undefined) {
      const fields = named.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
        const [imported, local] = s.split(/\s+as\s+/);
        return local === undefined ? imported : `${imported}: ${local}`;
      });
      decls.push(`{ ${fields.join(', ')} } = ${whole ?? load}`);
    }
    return `const ${decls.join(', ')};`;
  });
}

function proxySource(fromFile, to) {
  const names = exportNames(modules, to);
  const plain = names.filter((n) => n !== 'default');
  return [
    `import { ${ids.get(to)} as get } from ${JSON.stringify(relFile(fromFile, fileOf(to)))};`,
    'const ns = get();',
    plain.length ? `export const { ${plain.join(', ')} } = ns;` : '',
    names.includes('default') ? 'export default ns.default;' : '',
  ].join('\n');
}

// Old chunks out (a chunk renamed or gone must not linger).
const walkDirs = (dir) => [dir, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== 'tsc-entries').flatMap((e) => walkDirs(path.join(dir, e.name)))];
for (const dir of walkDirs(DIST)) for (const f of readdirSync(dir)) if (/\.chunk(\.js(\.map|\.map\.idx|\.names\.json)?|\.code\.js|-[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{8}\.cache)$/.test(f)) rmSync(path.join(dir, f));

const result = await build({
  entryPoints,
  outdir: DIST,
  // Each module's wrapper is keyed by its path under dist/ (test/fixtures/module-log reads it).
  absWorkingDir: DIST,
  ...BUNDLE_OPTIONS,
  metafile: true,
  allowOverwrite: true,
  // After the code, so that tsc's source maps (chained) keep their lines.
  footer: { js: MARK },
  // The require() lazyBuiltins() gives each module for node's built-ins.
  banner: { js: `import { createRequire as __tspumaCreateRequire } from "node:module"; const ${REQUIRE} = __tspumaCreateRequire(import.meta.url);` },
  plugins: [plugin],
});

// The package entry: index.ts's names, from its chunk.
{
  const names = exportNames(modules, PACKAGE_ENTRY);
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

// Each module's chunk, for tests and tools (test/fixtures/module-log, primary-modules.test).
const bytesOf = (file) => Object.entries(result.metafile.outputs).find(([k]) => k === file || k.endsWith(`/${file}`))?.[1].bytes;
const manifest = {
  chunks: Object.fromEntries(chunks.map((c) => [c.file, { name: c.name, needs: c.needs.map((n) => chunkByName.get(n)?.file).filter(Boolean), modules: members.get(c.name) }])),
  modules: Object.fromEntries([...chunkOf].sort(([a], [b]) => a.localeCompare(b)).map(([p]) => [p, fileOf(p)])),
};
writeFileSync(path.join(DIST, 'chunks.json'), `${JSON.stringify(manifest, null, 1)}\n`);

// ---- renamed locals: a table per chunk (scripts/chunk-names.mjs, developer names1's) ----
// esbuild renames a function's local that shares a name with a top-level name of its chunk
// (`source` -> `source2`); a dump reads `<chunk>.js.names.json` to show the source's names. Last:
// it reads every chunk and its map as written above, and throws (failing the build) on a chunk
// where one generated name would stand for two source names.
await writeNameTables(DIST);

// ---- the thread entries, each one file (scripts/thread-bundles.mjs, developer dboot2's) ----
await bundleThreads(DIST);

// ---- each chunk's map decoded once, into `<file>.js.map.idx` (server/chunk-maps.ts) ----
// A process reads the index as it is instead of decoding the map at its first lookup.
{
  const { decodeMappings, INDEX_SUFFIX } = await import(pathToFileURL(path.join(DIST, 'server/chunk-maps.js')).href);
  for (const dir of walkDirs(DIST)) {
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.chunk.js.map')) continue;
      const index = decodeMappings(JSON.parse(readFileSync(path.join(dir, f), 'utf8')).mappings);
      if (index !== null) writeFileSync(path.join(dir, `${f}${INDEX_SUFFIX}`), new Uint8Array(index.buffer, index.byteOffset, index.byteLength));
    }
  }
}

// ---- each chunk run with a V8 code cache (scripts/chunk-cache.mjs, server/chunk-run.ts) ----
// Last: it rewrites each chunk's file into a module that runs the chunk's code, moved beside it.
await splitChunks(DIST);

if (process.env.REPORT) {
  for (const c of chunks) console.log(`${c.file}: ${members.get(c.name).length} modules, ${bytesOf(c.file)} bytes${c.needs.length ? `; loads with ${c.needs.join(', ')}` : ''}\n  ${members.get(c.name).join(' ')}`);
}
