// Name tables for a bundled build (issue 31): esbuild puts every module of a chunk in one scope
// and renames what collides there, a function's local or parameter that shares a name with a
// top-level name of the chunk (`source` -> `source2`) and top-level names that collide across
// modules (`parse` -> `parse2`). A -d dump shows tspuma's frames with their function names and
// locals, so it would show the renamed ones. The chunk's source map names every identifier it
// renamed: a segment that starts at an identifier of the generated text carries the source's name
// when it differs (and none when it does not). This reads those and writes, beside each
// `<file>.js` that has renames, `<file>.js.names.json` ({"file": ..., "names": {generated:
// source}}), which server/name-tables.ts reads at dump time only.
//
// A table is one name per generated name, so it holds only if no generated name of a file stands
// for two source names (a minifier's one-letter names do): then this throws rather than write a
// table that would show a wrong name. A file whose map names nothing (tsc's) gets no table; a
// stale table beside it is removed.
//
//   node scripts/chunk-names.mjs DIST   (or import { writeNameTables } and call it after bundling)
import { tokenizer } from 'acorn';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NAMES_SUFFIX = '.names.json';

/** Every `*.js` file under dir (recursively) with a `.js.map` beside it. */
function mappedScripts(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...mappedScripts(p));
    else if (entry.isFile() && entry.name.endsWith('.js') && existsSync(`${p}.map`)) out.push(p);
  }
  return out;
}

/**
 * The generated name -> source name table of one script and its map (renames only), from the
 * segments that start exactly at an identifier of the generated text. Throws when a generated
 * name stands for two source names (counting an unrenamed occurrence, whose segment has no name,
 * as standing for itself).
 */
export function nameTable(file, code, payload) {
  /** generated name -> source name -> where first seen (line:column, 1-based) */
  const seen = new Map();
  if (!Array.isArray(payload.names) || payload.names.length === 0) return {};
  const map = new SourceMap(payload);
  let tokens;
  try {
    tokens = [...tokenizer(code, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true, allowReturnOutsideFunction: true, locations: true })];
  } catch (err) {
    throw new Error(`chunk-names: ${file}: cannot read its tokens (${err.message})`);
  }
  for (const token of tokens) {
    if (token.type.label !== 'name') continue;
    const line0 = token.loc.start.line - 1;
    const col0 = token.loc.start.column;
    const entry = map.findEntry(line0, col0);
    if (!entry || entry.generatedLine !== line0 || entry.generatedColumn !== col0 || entry.originalSource === undefined) continue;
    const source = typeof entry.name === 'string' && entry.name !== '' ? entry.name : token.value;
    let sources = seen.get(token.value);
    if (!sources) seen.set(token.value, (sources = new Map()));
    if (!sources.has(source)) sources.set(source, `${line0 + 1}:${col0 + 1}`);
  }
  const names = Object.create(null);
  for (const [generated, sources] of seen) {
    if (sources.size > 1) {
      const where = [...sources].map(([name, at]) => `\`${name}\` at ${path.basename(file)}:${at}`).join(', ');
      throw new Error(`chunk-names: ${file}: the generated name \`${generated}\` stands for ${sources.size} source names (${where}); a name table would show the wrong one in a dump. Bundle without renaming identifiers to shared short names (no --minify-identifiers), or give the names distinct spellings.`);
    }
    const [source] = sources.keys();
    if (source !== generated) names[generated] = source;
  }
  return names;
}

/**
 * Writes `<file>.js.names.json` beside every mapped `*.js` under distDir that has renames, and
 * removes one left beside a file that has none. Returns the tables written, by path.
 */
export function writeNameTables(distDir) {
  const written = new Map();
  for (const file of mappedScripts(path.resolve(distDir))) {
    let payload;
    try {
      payload = JSON.parse(readFileSync(`${file}.map`, 'utf8'));
    } catch (err) {
      throw new Error(`chunk-names: ${file}.map: not a readable source map (${err.message})`);
    }
    const names = nameTable(file, readFileSync(file, 'utf8'), payload);
    const out = `${file}${NAMES_SUFFIX}`;
    if (Object.keys(names).length === 0) {
      rmSync(out, { force: true });
      continue;
    }
    writeFileSync(out, `${JSON.stringify({ file: path.basename(file), names })}\n`);
    written.set(out, names);
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node scripts/chunk-names.mjs DIST (the built folder whose bundled *.js files get name tables)');
  const written = writeNameTables(dir);
  const total = [...written.values()].reduce((n, t) => n + Object.keys(t).length, 0);
  console.log(`chunk-names: ${written.size} table(s), ${total} renamed name(s), under ${dir}`);
}
