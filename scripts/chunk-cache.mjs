// The build's last step (scripts/build.mjs): each chunk of dist/chunks.json becomes a small ES
// module at the chunk's path and the chunk's code beside it (`x.chunk.code.js`), which
// server/chunk-run.ts compiles with a V8 code cache (Node 20 has none for ES modules). The code is
// the chunk with its import and export statements blanked out and `import.meta`/`import(` renamed
// in place to names of the same length, so every line and column stays where the chunk's source
// map says; its last statement, `export { ... }`, becomes `return { ... }`. The module keeps the
// imports, hands their values to runChunk and exports what the code returns; its source map comment
// makes node map the code's frames (same URL) through the chunk's map. Also clears the caches boots
// wrote to node_modules/.cache/tspuma for earlier builds' chunks. It writes no cache itself: a
// boot writes one holding what it compiled (server/chunk-run.ts).
//
//   node scripts/chunk-cache.mjs [DIST]
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { parse } from 'acorn';

const META = '$tspumaMeta';
const IMPORT = '$tsImp';
if (META.length !== 'import.meta'.length || IMPORT.length !== 'import'.length) throw new Error('renames must keep lengths');

/** `text` with [start, end) blanked (newlines kept). */
const blank = (text, start, end) => text.slice(0, start) + text.slice(start, end).replace(/[^\n]/g, ' ') + text.slice(end);

function walk(node, visit) {
  if (!node || typeof node.type !== 'string') return;
  visit(node);
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (Array.isArray(v)) for (const x of v) walk(x, visit);
    else if (v && typeof v.type === 'string') walk(v, visit);
  }
}

/** Splits one chunk's text: { shell, code, hash, imports: chunk files it imports statically }. */
export function splitChunk(text, file, runtimeSpec) {
  const ast = parse(text, { ecmaVersion: 'latest', sourceType: 'module' });
  // runChunk's wrapper opens on the first line: only the build's banner may stand there.
  if (!text.startsWith('import { createRequire as __tspumaCreateRequire } from "node:module"; const __tspumaBuiltin = ')) throw new Error(`${file}: its first line is not scripts/build.mjs's banner`);
  const last = ast.body[ast.body.length - 1];
  if (last?.type !== 'ExportNamedDeclaration' || last.declaration || last.source) throw new Error(`${file}: does not end with a plain export { ... }`);
  let code = text;
  const importLines = [];
  const names = [];
  const imports = [];
  for (const node of ast.body) {
    if (node.type === 'ImportDeclaration') {
      importLines.push(text.slice(node.start, node.end));
      for (const s of node.specifiers) names.push(s.local.name);
      if (String(node.source.value).endsWith('.chunk.js')) imports.push(node.source.value);
      code = blank(code, node.start, node.end);
    } else if (node !== last && /^Export/.test(node.type)) throw new Error(`${file}: an export this step cannot move: ${text.slice(node.start, node.start + 80)}`);
  }
  // Renames in place, from the end so that offsets hold.
  const edits = [];
  walk(ast, (n) => {
    if (n.type === 'MetaProperty') {
      if (n.meta.name !== 'import') throw new Error(`${file}: ${n.meta.name}.${n.property.name}`);
      edits.push([n.start, n.start + 'import.meta'.length, META]);
    } else if (n.type === 'ImportExpression') {
      if (text.slice(n.start, n.start + 6) !== 'import') throw new Error(`${file}: import() at ${n.start}`);
      edits.push([n.start, n.start + 6, IMPORT]);
    } else if (n.type === 'Identifier' && (n.name === META || n.name === IMPORT)) throw new Error(`${file}: already uses ${n.name}`);
  });
  const exported = last.specifiers.map((s) => [s.local.name, s.exported.name ?? s.exported.value]);
  for (const [, out] of exported) if (!/^[A-Za-z_$][\w$]*$/.test(out)) throw new Error(`${file}: exports ${JSON.stringify(out)}, not a name`);
  for (const s of last.specifiers) {
    const local = s.local.name;
    const out = s.exported.name ?? s.exported.value;
    if (local !== out) edits.push([s.start, s.end, `${JSON.stringify(out)}: ${local}`]);
  }
  edits.push([last.start, last.start + 'export'.length, 'return']);
  edits.sort((a, b) => b[0] - a[0]);
  for (const [s, e, t] of edits) code = code.slice(0, s) + t + code.slice(e);
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const base = path.basename(file);
  const codeName = base.replace(/\.js$/, '.code.js');
  const mapLine = /\n\/\/# sourceMappingURL=[^\n]*\s*$/.exec(text)?.[0].trim() ?? '';
  const shell = [
    ...importLines,
    `import { runChunk as $tspumaRunChunk } from ${JSON.stringify(runtimeSpec)};`,
    `const $tspumaExports = $tspumaRunChunk(import.meta.url, ${JSON.stringify(codeName)}, ${JSON.stringify(hash)}, ${JSON.stringify(names)}, [${names.join(', ')}]);`,
    exported.length ? `export const { ${exported.map(([, out]) => out).join(', ')} } = $tspumaExports;` : '',
    '// bundled by scripts/build.mjs: this chunk\'s code is in the file named above (server/chunk-run.ts)',
    mapLine,
    '',
  ].join('\n');
  return { shell, code, codeName, hash, names, imports };
}

/** Whether the chunks' static imports go round (a chunk would then read another's exports before they exist). */
function checkAcyclic(graph) {
  const state = new Map();
  const visit = (f, trail) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') throw new Error(`chunks import each other statically: ${[...trail, f].join(' -> ')}`);
    state.set(f, 'open');
    for (const t of graph.get(f) ?? []) visit(t, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
}

export async function splitChunks(dist) {
  const manifest = JSON.parse(readFileSync(path.join(dist, 'chunks.json'), 'utf8'));
  const runtime = path.join(dist, 'server', 'chunk-run.js');
  if (!existsSync(runtime)) throw new Error(`${runtime} is missing (tsc builds it from server/chunk-run.ts)`);
  const { wrapChunkCode, META: rtMeta, IMPORT: rtImport } = await import(pathToFileURL(runtime).href);
  if (rtMeta !== META || rtImport !== IMPORT) throw new Error('scripts/chunk-cache.mjs and server/chunk-run.ts disagree on the renamed names');
  const graph = new Map();
  const out = [];
  for (const rel of Object.keys(manifest.chunks)) {
    const file = path.join(dist, rel);
    const text = readFileSync(file, 'utf8');
    let spec = path.relative(path.dirname(file), runtime).split(path.sep).join('/');
    if (!spec.startsWith('.')) spec = `./${spec}`;
    const split = splitChunk(text, rel, spec);
    graph.set(rel, split.imports.map((i) => path.posix.normalize(path.posix.join(path.posix.dirname(rel), i))));
    out.push({ file, ...split });
  }
  checkAcyclic(graph);
  for (const o of out) {
    writeFileSync(path.join(path.dirname(o.file), o.codeName), o.code);
    writeFileSync(o.file, o.shell);
    // As runChunk compiles it: a syntax error fails the build. No cache is left beside the chunk:
    // V8 keeps the file name a cache was made under, so one made here would serve this checkout
    // alone (a cache's name holds the chunk's URL), and an installed package would ship it dead.
    new Script(wrapChunkCode(o.names, o.code), { filename: pathToFileURL(o.file).href });
    for (const f of readdirSync(path.dirname(o.file))) if (f.startsWith(`${path.basename(o.file, '.js')}-`) && f.endsWith('.cache')) rmSync(path.join(path.dirname(o.file), f));
  }
  // What boots wrote for chunks of earlier builds.
  const own = path.join(dist, '..', 'node_modules', '.cache', 'tspuma');
  if (existsSync(own)) for (const f of readdirSync(own)) if (/\.chunk-[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{8}\.cache$/.test(f)) rmSync(path.join(own, f), { force: true });
  return out.length;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const n = await splitChunks(path.resolve(process.argv[2] ?? 'dist'));
  console.log(`${n} chunks split`);
}
