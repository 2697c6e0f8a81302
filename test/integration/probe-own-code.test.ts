// Integration (single mode, the bundled build): probes on tspuma's own code, where a stack line or
// a dump names it. A .ts file of tspuma's (server/request-lifecycle.ts) is found through the source
// map of the chunk that holds it (it stayed 'pending (its file is not loaded yet)' forever:
// review13.9); a chunk's own file (dist/server/serving.chunk.js, as a stack line names it) is
// read as the code V8 runs under its URL, x.chunk.code.js, not the small module at that path
// (refused as 'has 80 lines': boot4.1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT, run, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'examples/hello.ts';
/** Where a request enters the app, in tspuma's source and in the built chunk that runs it. */
const OWN_TS = 'server/request-lifecycle.ts';
const OWN_LINE = lineOf(OWN_TS, 'return app.invoke(req, res);');
const CHUNK = 'dist/server/serving.chunk.js';
const CHUNK_LINE = readFileSync(join(ROOT, 'dist/server/serving.chunk.code.js'), 'utf8').split('\n').findIndex((l) => /^\s*return app\d*\.invoke\(req\d*, res\d*\);$/.test(l)) + 1;

let s: Booted;
let state: string;

async function probe(args: string[]): Promise<{ code: number; id: number; err: string }> {
  const p = run(['probe', ...args, '-S', state]);
  const code = await p.exited;
  return { code, id: Number(p.stdout().trim()), err: p.stderr() };
}

beforeAll(async () => {
  state = join(tempDir('own-probe'), 'tspuma.state');
  s = await boot(['-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, APP]);
});

afterAll(killAll);

describe('probes on tspuma\'s own code (bundled build)', () => {
  it('a logpoint on a line of tspuma\'s .ts is armed through its chunk\'s source map and logs the request it sees', async () => {
    const set = await probe(['log', `${OWN_TS}:${OWN_LINE}`, 'entering {req.url}']);
    expect(set.code, set.err).toBe(0);
    expect(set.err).not.toContain('pending');
    expect((await fetch(`${s.url}/own-ts-probe`)).status).toBe(200);
    const hit = await waitFor(() => s.lines().find((l) => l.probe === set.id && typeof l.values === 'object'), 'the hit', 20_000);
    expect(hit.values).toEqual({ 'req.url': '/own-ts-probe' });
    expect(hit.msg).toBe(`probe ${set.id} ${OWN_TS}:${OWN_LINE} [${String(hit.request)}]: entering /own-ts-probe`);
  }, 60_000 * SLOWNESS);

  it('a logpoint on a line of a built chunk, as a stack line names it, is set on the code that runs there', async () => {
    expect(CHUNK_LINE).toBeGreaterThan(100);
    const set = await probe(['log', `${CHUNK}:${CHUNK_LINE}`, 'chunk saw {arguments[0].url}']);
    expect(set.code, set.err).toBe(0);
    expect(set.err).not.toContain('pending');
    expect((await fetch(`${s.url}/chunk-probe`)).status).toBe(200);
    const hit = await waitFor(() => s.lines().find((l) => l.probe === set.id && typeof l.values === 'object'), 'the hit', 20_000);
    expect(hit.values).toEqual({ 'arguments[0].url': '/chunk-probe' });
  }, 60_000 * SLOWNESS);
});
