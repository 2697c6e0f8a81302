// The build's chunks (scripts/build.mjs, scripts/chunk-plan.mjs): an error thrown in a chunk still
// names its .ts line through the chained source maps, the plan keeps its rules in the built dist/,
// and a plan that breaks one fails the build naming the module and its chunk.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';

interface Manifest {
  chunks: Record<string, { name: string; needs: string[]; modules: string[] }>;
  modules: Record<string, string>;
}
const manifest = JSON.parse(readFileSync(`${ROOT}dist/chunks.json`, 'utf8')) as Manifest;

type Graph = Map<string, { statics: string[] }>;
interface Plan {
  readGraph(fileOf: (p: string) => string): Graph;
  planChunks(modules: Graph): { chunkOf: Map<string, string> };
}
const loadPlan = async () => (await import(pathToFileURL(`${ROOT}scripts/chunk-plan.mjs`).href)) as Plan;
/** tsc's file of a module (the bin and the package entry are kept aside once the build replaced them). */
const tscFile = (p: string) => `${ROOT}dist/${p === 'server/cli.js' || p === 'server/index.js' ? 'tsc-entries/' : ''}${p}`;

/** start() of the package entry on an app file that is no app, with `flags`: the error's stack text. */
function startError(flags: string[]): string {
  const script = `import { start } from ${JSON.stringify(pathToFileURL(`${ROOT}dist/server/index.js`).href)};
try { await start({ app: '/no-such-app.txt', bind: 'tcp://127.0.0.1:0' }); } catch (e) { process.stdout.write(String(e.stack)); }`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { cwd: tmpdir(), env, encoding: 'utf8', timeout: 20_000 * SLOWNESS });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('the built chunks', () => {
  it('an error thrown in a chunk names its chunk file without source maps, and the .ts line of its throw with --enable-source-maps', () => {
    const chunk = manifest.modules['server/app-files.js']!;
    expect(chunk).toMatch(/\.chunk\.js$/);
    expect(startError([]).split('\n')[1]).toContain(`${ROOT}dist/${chunk}:`);
    // The line of resolveAppPath's throw for a file that is not an app, as the .ts file has it.
    const lines = readFileSync(`${ROOT}server/app-files.ts`, 'utf8').split('\n');
    const check = lines.findIndex((l) => l.includes('APP_EXTENSIONS.includes(extname(file)'));
    expect(lines[check + 1]).toContain("throw new TspumaError('TSPUMA_ERR_APP_NOT_FOUND'");
    const mapped = startError(['--enable-source-maps']);
    expect(mapped.split('\n')[1]).toMatch(new RegExp(`at resolveAppPath \\(${ROOT}server/app-files\\.ts:${check + 2}:\\d+\\)$`));
    expect(mapped).toMatch(/at start \(.*server\/start\.ts:\d+:\d+\)/);
  }, 60_000 * SLOWNESS);

  it('no chunk mixes server/, diagnostics/ and inspector/, and debug mode\'s three wrapper modules are a chunk of their own', () => {
    for (const [file, chunk] of Object.entries(manifest.chunks)) {
      expect(chunk.modules.filter((m) => m.split('/')[0] !== file.split('/')[0]), file).toEqual([]);
    }
    expect(manifest.chunks[manifest.modules['diagnostics/call-context.js']!]!.modules.sort()).toEqual(['diagnostics/attribution.js', 'diagnostics/call-context.js', 'diagnostics/index.js']);
    expect(manifest.modules['diagnostics/call-context.js']).toBe('diagnostics/app-calls.chunk.js');
  });

  it('each thread entry is one file in its own place: it imports none of tspuma\'s files, and its source map names the .ts files of every module it holds', async () => {
    const { THREADS } = (await import(pathToFileURL(`${ROOT}scripts/chunk-plan.mjs`).href)) as { THREADS: string[] };
    expect(THREADS).toEqual(expect.arrayContaining(['inspector/discovery-thread.js', 'server/side-thread-entry.js', 'inspector/pause-rescue-thread.js']));
    for (const p of THREADS) {
      const code = readFileSync(`${ROOT}dist/${p}`, 'utf8');
      // Static imports, re-exports and import() of a relative file: a module the thread's loader would read.
      expect([...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"']+)\1/g)].map((m) => m[2]), p).toEqual([]);
      const map = JSON.parse(readFileSync(`${ROOT}dist/${p}.map`, 'utf8')) as { sources: string[] };
      const sources = map.sources.map((s) => new URL(s, pathToFileURL(`${ROOT}dist/${p}`)).pathname);
      expect(sources, p).toContain(`${ROOT}${p.replace(/\.js$/, '.ts')}`);
      expect(sources.filter((s) => !s.endsWith('.ts') || !s.startsWith(ROOT) || s.includes('/dist/')), p).toEqual([]);
    }
    // The discovery thread holds its modules: bridge, discovery, the duties it serves.
    const discovery = JSON.parse(readFileSync(`${ROOT}dist/inspector/discovery-thread.js.map`, 'utf8')) as { sources: string[] };
    expect(discovery.sources.map((s) => s.replace(/^(\.\.\/)+/, ''))).toEqual(expect.arrayContaining(['inspector/bridge.ts', 'inspector/discovery.ts', 'server/side-thread-duties.ts']));
  });

  it('a plan that breaks a rule fails, naming the module, its import and the chunks', async () => {
    const { readGraph, planChunks } = await loadPlan();
    // The built plan passes.
    expect(planChunks(readGraph(tscFile)).chunkOf.get('server/cli/ctl.js')).toBe('ctl');
    // ctl importing the capture module statically would read the diagnostics chunk with every command.
    const graph = readGraph(tscFile);
    graph.get('server/cli/ctl.js')!.statics.push('diagnostics/capture.js');
    expect(() => planChunks(graph)).toThrow(/server\/cli\/ctl\.js \(chunk ctl\) imports diagnostics\/capture\.js \(chunk diagnostics[a-z-]*\) statically/);
    // An on-demand module imported statically by the serve command: it lands in the boot chunk, read by every server.
    const eager = readGraph(tscFile);
    eager.get('server/cli/serve.js')!.statics.push('server/health.js');
    expect(() => planChunks(eager)).toThrow(/server\/health\.js: on demand, but its chunk boot holds other modules/);
  });
});
