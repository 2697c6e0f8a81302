// Names in dumps of a bundled build (issue 31): esbuild renames a local that shares a name with a
// top-level name of its chunk (`source` -> `source2`) and top-level names that collide across
// modules (`parse` -> `parse2`, `Listener` -> `Listener2`). scripts/chunk-names.mjs writes each
// chunk's table from its source map; the frame reader and the stack-text reader show the source's
// names through it. The fixture chunk is bundled by esbuild here, under dist/ (tspuma's compiled
// output, so its frames are tspuma's, as a real chunk's are; vitest leaves dist/ to node's own
// loader, so V8 sees the chunk's own file), and removed afterwards.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpBuilder } from '../../diagnostics/dumps.js';
import { FrameReader, type CallFrame, type PropertyDescriptor, type ScriptInfo } from '../../diagnostics/frames.js';
import { Redactor } from '../../diagnostics/redact.js';
import { renderText } from '../../diagnostics/render.js';
import { mapProfile, type CpuProfile } from '../../inspector/profile-map.js';
import { stackFrames } from '../../diagnostics/stack-text.js';
import { nameTable, writeNameTables } from '../../scripts/chunk-names.mjs';
import { tempDir } from '../helpers/temp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Two modules whose top-level names collide: the second one's `parse`, `Listener` and parameter `source` are renamed in one chunk. */
const MODULES: Record<string, string> = {
  'config.ts': `export const source = 'defaults';
export function parse(text: string): number {
  return Number.parseInt(text, 10);
}
export class Listener {
  constructor(readonly port: number) {}
}
export const fallback = new Listener(parse('8080'));
`,
  'backlog.ts': `import { fallback } from './config';
export function parse(value: string, source: string): number {
  const backlog = Number(value);
  if (!Number.isInteger(backlog)) throw new Error(\`backlog \${JSON.stringify(value)} from \${source} is not a whole number\`);
  return backlog;
}
export class Listener {
  constructor(readonly host: string) {}
  listen(value: string, source: string): number {
    const port = fallback.port;
    return parse(value, source) + port * 0;
  }
}
`,
  'entry.ts': `export { parse, Listener } from './backlog';
export { parse as parseNumber, Listener as PlainListener, source } from './config';
`,
};

interface Fixture {
  parse(value: string, source: string): number;
  Listener: new (host: string) => { listen(value: string, source: string): number };
}

let src: string;
let chunkDir: string;
let chunk: string;

async function bundle(outfile: string, minifyIdentifiers = false): Promise<void> {
  await build({ entryPoints: [join(src, 'entry.ts')], bundle: true, format: 'esm', platform: 'node', target: 'node20', sourcemap: true, minifyIdentifiers, outfile, logLevel: 'silent' });
}

beforeAll(async () => {
  src = tempDir('chunk-names');
  for (const [name, text] of Object.entries(MODULES)) writeFileSync(join(src, name), text);
  chunkDir = join(ROOT, 'dist', `.chunk-names-test-${process.pid}`);
  mkdirSync(chunkDir, { recursive: true });
  chunk = join(chunkDir, 'fixture.chunk.js');
  await bundle(chunk);
});

afterAll(() => {
  rmSync(src, { recursive: true, force: true });
  rmSync(chunkDir, { recursive: true, force: true });
});

describe('scripts/chunk-names.mjs', () => {
  it("writes a chunk's renames (`source2` -> `source`, `parse2` -> `parse`, `Listener2` -> `Listener`) beside it, and no table for a file whose map names nothing (tsc's)", () => {
    const code = readFileSync(chunk, 'utf8');
    // The fixture does what a real chunk does: esbuild renamed the second module's names.
    expect(code).toMatch(/function parse2\(value, source2\)/);
    expect(code).toMatch(/var Listener2 = class/);
    const plain = join(chunkDir, 'plain.js');
    writeFileSync(plain, 'export function parse(source) {\n  return source;\n}\n//# sourceMappingURL=plain.js.map\n');
    writeFileSync(`${plain}.map`, JSON.stringify({ version: 3, sources: ['plain.ts'], names: [], mappings: 'AAAA;AACA;AACA' }));
    writeFileSync(`${plain}.names.json`, '{"file":"plain.js","names":{"source2":"source"}}\n'); // left by an earlier build
    const written = writeNameTables(chunkDir);
    expect([...written.keys()]).toEqual([`${chunk}.names.json`]);
    const table = JSON.parse(readFileSync(`${chunk}.names.json`, 'utf8')) as { file: string; names: Record<string, string> };
    expect(table.file).toBe('fixture.chunk.js');
    expect(table.names).toMatchObject({ source2: 'source', parse2: 'parse', Listener2: 'Listener' });
    // Only renames: a name esbuild kept is not in the table.
    for (const [generated, source] of Object.entries(table.names)) expect(generated).not.toBe(source);
    expect(existsSync(`${plain}.names.json`)).toBe(false);
    rmSync(plain);
    rmSync(`${plain}.map`);
  });

  it('refuses a chunk where one generated name stands for two source names (identifiers minified to shared short names), naming both', async () => {
    const dir = tempDir('chunk-names-min');
    try {
      const min = join(dir, 'min.js');
      await bundle(min, true);
      const payload = JSON.parse(readFileSync(`${min}.map`, 'utf8')) as { names: string[] };
      expect(() => nameTable(min, readFileSync(min, 'utf8'), payload)).toThrow(/min\.js: the generated name `[\w$]+` stands for [2-9] source names \(`[\w$]+` at min\.js:\d+:\d+, `[\w$]+` at min\.js:\d+:\d+/);
      expect(() => writeNameTables(dir)).toThrow(/stands for/);
      expect(existsSync(`${min}.names.json`)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The frames of a throw inside the chunk, read by FrameReader through a same-thread session, as -d's capture reads them. */
function readThrow(run: () => void, readerFrames = 4): { err: unknown; read: ReturnType<FrameReader['read']> } {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): T => {
    let error: Error | null = null;
    let result: T | undefined;
    session.post(method, params, (e: Error | null, r?: object) => {
      error = e;
      result = r as T;
    });
    if (error) throw error;
    return result as T;
  };
  const scripts = new Map<string, ScriptInfo>();
  session.on('Debugger.scriptParsed', (m) => scripts.set(m.params.scriptId, { url: m.params.url, ...(m.params.sourceMapURL ? { sourceMapURL: m.params.sourceMapURL } : {}) }));
  let read: ReturnType<FrameReader['read']> | null = null;
  session.on('Debugger.paused', (m) => {
    read ??= new FrameReader(new Redactor()).read(m.params.callFrames as unknown as CallFrame[], {
      frames: readerFrames,
      scripts,
      properties: (objectId) => post<{ result: PropertyDescriptor[]; internalProperties?: PropertyDescriptor[]; privateProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId, ownProperties: true, generatePreview: true }),
      call: (objectId, functionDeclaration) => post<{ result: { value?: unknown } }>('Runtime.callFunctionOn', { objectId, functionDeclaration, returnByValue: true }).result.value,
      source: (scriptId) => post<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId }).scriptSource,
    });
    post('Debugger.resume');
  });
  let err: unknown = null;
  try {
    post('Debugger.enable');
    post('Debugger.setPauseOnExceptions', { state: 'all' });
    try {
      run();
    } catch (e) {
      err = e;
    }
  } finally {
    post('Debugger.setPauseOnExceptions', { state: 'none' });
    post('Debugger.disable');
    session.disconnect();
  }
  if (!read) throw new Error('no pause at the throw');
  return { err, read };
}

describe('a dump of a frame in a bundled chunk', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    writeNameTables(chunkDir);
    fixture = (await import(pathToFileURL(chunk).href)) as Fixture;
  });

  it("names the function, its parameters and its receiver's class by their source names (parse, source, Listener), not esbuild's (parse2, source2, Listener2)", () => {
    const listener = new fixture.Listener('127.0.0.1');
    const { err, read } = readThrow(() => listener.listen('many', 'flag --backlog'));
    const [parse, listen] = read.frames;
    expect(parse).toMatchObject({ function: 'parse', origin: 'tspuma', file: expect.stringMatching(/backlog\.ts$/) });
    expect(parse!.locals).toEqual({ value: 'many', source: 'flag --backlog', backlog: { summary: 'NaN' } });
    expect(listen).toMatchObject({ function: 'Listener.listen', origin: 'tspuma', receiver: 'Listener' });
    expect(listen!.locals).toMatchObject({ value: 'many', source: 'flag --backlog', port: 8080 });
    const dump = new DumpBuilder(new Redactor(), 8).build(err, { phase: 'app', reason: 'exception', site: '', frames: read.frames, redactions: read.redactions }, { phase: 'app' });
    const text = renderText(dump, false, { allFrames: true });
    expect(text).toMatch(/#0 parse {2}.*backlog\.ts:4:\d+/);
    expect(text).toContain('value="many"  source="flag --backlog"');
    expect(text).toMatch(/#1 Listener\.listen {2}.*backlog\.ts:11:\d+ {2}receiver Listener\n/);
    // The chunk's two frames, as the text shows them and as the dump file has them (the test's own frame below them holds a `Listener2` instance: a value's class is named by its own script, not read here).
    const lines = text.split('\n');
    const chunkLines = lines.slice(lines.findIndex((l) => l.includes('#0 parse')), lines.findIndex((l) => l.includes('#2 ')));
    expect(chunkLines).toHaveLength(4);
    for (const out of [chunkLines.join('\n'), JSON.stringify(dump.frames.slice(0, 2))]) expect(out).not.toMatch(/\b(parse2|source2|Listener2)\b/);
  });

  it("shows a chunk with a damaged table (not JSON) under esbuild's names, and its frames are still read", async () => {
    // A folder of its own: in the fixture's folder, a case that writes the folder's tables and
    // counts them (the first one) saw this chunk's too when it ran after this one (--sequence.shuffle).
    const dir = join(ROOT, 'dist', `.chunk-names-damaged-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const damaged = join(dir, 'damaged.chunk.js');
      await bundle(damaged);
      writeFileSync(`${damaged}.names.json`, '{"file":"damaged.chunk.js","names":{"source2":');
      const { parse } = (await import(pathToFileURL(damaged).href)) as Fixture;
      const { read } = readThrow(() => parse('many', 'flag --backlog'));
      expect(read.frames[0]).toMatchObject({ function: 'parse2', origin: 'tspuma', locals: { value: 'many', source2: 'flag --backlog', backlog: { summary: 'NaN' } } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the functions of an error's stack text (a dump with no capture) by their source names", () => {
    let err: unknown = null;
    // V8's own stack text, as a tspuma process without source maps has it (vitest maps stacks: put aside while it is made).
    const prepare = Error.prepareStackTrace;
    Reflect.deleteProperty(Error, 'prepareStackTrace');
    try {
      new fixture.Listener('127.0.0.1').listen('many', 'flag --backlog');
    } catch (e) {
      err = e;
      void (e as Error).stack;
    } finally {
      if (prepare) Error.prepareStackTrace = prepare;
    }
    expect(String((err as Error).stack)).toMatch(/at parse2 \(file:.*fixture\.chunk\.js:\d+:\d+\)\n\s+at Listener2\.listen /);
    const frames = stackFrames(err, 2);
    expect(frames.map((f) => f.function)).toEqual(['parse', 'Listener.listen']);
    expect(frames[0]!.file).toMatch(/backlog\.ts$/);
  });
});

describe('a CPU profile of a bundled chunk', () => {
  it("names a node's function by its source name (parse, not parse2) where its position is mapped to the .ts", () => {
    writeNameTables(chunkDir);
    const lines = readFileSync(chunk, 'utf8').split('\n');
    const lineNumber = lines.findIndex((l) => l.startsWith('function parse2('));
    expect(lineNumber).toBeGreaterThan(0);
    const url = pathToFileURL(chunk).href;
    const profile: CpuProfile = { startTime: 0, endTime: 1, nodes: [{ id: 1, callFrame: { functionName: 'parse2', scriptId: '9', url, lineNumber, columnNumber: 'function '.length } }] };
    expect(mapProfile(profile, new Map([['9', { url, sourceMapURL: 'fixture.chunk.js.map' }]]))).toMatchObject({ mapped: 1 });
    expect(profile.nodes[0]!.callFrame).toMatchObject({ functionName: 'parse', url: expect.stringMatching(/backlog\.ts$/), lineNumber: 1 });
  });
});
