// Loading pino's bundle with a V8 code cache (server/pino-load.ts): a cache made for this node is
// used, a damaged one or none leaves the bundle compiled as before, and pino works either way. The
// bundle is the build's (dist/vendor/pino.cjs), as in every serving process. Each load runs in a
// process of its own: V8 keeps a source it compiled once, and would not read a cache for it again.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const LOADER = `${ROOT}dist/server/pino-load.js`;
const BUNDLE = `${ROOT}dist/vendor/pino.cjs`;
const dir = tempDir('pino-cache');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** In a new node: the bundle loaded with `cache` (what V8 did with it) and one line logged through it. */
function loadIn(cache: string): { cache: string; line: unknown } {
  const script = [
    `const { loadBundle } = await import(${JSON.stringify(LOADER)});`,
    `const loaded = loadBundle(${JSON.stringify(BUNDLE)}, ${JSON.stringify(cache)});`,
    `const lines = [];`,
    `loaded.pino({ level: 'info', base: null, timestamp: false }, { write: (l) => void lines.push(l) }).info({ n: 1 }, 'hello');`,
    `console.log(JSON.stringify({ cache: loaded.cache, line: lines.length === 1 ? JSON.parse(lines[0]) : lines }));`,
  ].join('\n');
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 * SLOWNESS })) as { cache: string; line: unknown };
}

describe('pino bundle with its code cache', () => {
  it('writes a cache that a new process of this node then uses, and pino logs through it', async () => {
    const { writePinoCodeCache } = (await import(LOADER)) as typeof import('../../server/pino-load.js');
    const cache = join(dir, 'made.cache');
    expect(writePinoCodeCache(BUNDLE, cache)).toBeGreaterThan(10_000);
    expect(loadIn(cache)).toEqual({ cache: 'used', line: { level: 30, n: 1, msg: 'hello' } });
  });

  it('refuses a damaged cache and compiles the bundle as if there were none', () => {
    const cache = join(dir, 'damaged.cache');
    writeFileSync(cache, Buffer.alloc(4096, 7));
    expect(loadIn(cache)).toEqual({ cache: 'refused', line: { level: 30, n: 1, msg: 'hello' } });
  });

  // N25: a cache made under other V8 flags is refused, and reading it costs more than none.
  it('under other flags (NODE_OPTIONS=--max-old-space-size=512) reads no refused cache, compiles, writes one for them, and the next such process uses it', () => {
    const own = join(dir, 'own-cache');
    const script = [
      `const { loadPinoFrom } = await import(${JSON.stringify(LOADER)});`,
      `const loaded = loadPinoFrom(${JSON.stringify(BUNDLE)}, ${JSON.stringify(own)});`,
      `await new Promise((r) => setTimeout(r, 200));`,
      `console.log(JSON.stringify({ cache: loaded.cache, file: loaded.file }));`,
    ].join('\n');
    const run = () => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 * SLOWNESS, env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=512' } })) as { cache: string; file: string | null };
    expect(run()).toEqual({ cache: 'none', file: null });
    const second = run();
    expect(second.cache).toBe('used');
    expect(second.file).toMatch(new RegExp(`^${own}/pino-[0-9a-f]{16}-[0-9a-f]{8}\\.cache$`));
  });

  it('without a cache file, compiles the bundle', () => {
    expect(loadIn(join(dir, 'absent.cache'))).toEqual({ cache: 'none', line: { level: 30, n: 1, msg: 'hello' } });
  });
});
