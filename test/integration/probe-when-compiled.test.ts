// Integration (single mode, no --inspect): a --when in the compiled subset is compiled into the
// live-edit gate (inspector/probe-when-compile.ts) and hits exactly where the same condition on a
// V8 conditional breakpoint (probeLiveEdit off) hits, for a table of conditions: data reads, `?.`,
// a member of null (a TypeError: false), a Map's size, loose equality, a module `let` read in a
// try, a getter and a proxy (never run: V8 decides, and removes the probe for its side effect), a
// getter without side effects (V8 decides at each pass), a name in its TDZ (not compiled; never
// true), a name the function does not use (not compiled; removed as a ReferenceError), a call (not compiled).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, controlUrl, killAll, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { answeredView } from '../helpers/probe-answered.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/live-edit-when-app.mjs';
const TOKEN = 'when-token-0123456789abcdef';
const IDS = [1, 2, 3, 4, 5, 6, 7, 8];

/** Each condition on a line of its own, the ids it holds for, and whether it compiles (else: the reason's text). */
const TABLE: { when: string; hits: number[] | 'removed'; compiled: true | RegExp; code?: string }[] = [
  { when: 'id > 5', hits: [6, 7, 8], compiled: true },
  { when: 'order.total >= 30 && order.tags.length === 2', hits: [3, 4, 5, 6, 7, 8], compiled: true },
  { when: 'order.meta?.vip === true', hits: [6, 8], compiled: true },
  { when: 'order.meta.vip', hits: [6, 8], compiled: true },
  { when: 'typeof order.id === "number" && !(id % 3) && id > 0', hits: [3, 6], compiled: true },
  { when: 'sizes.size === 1 && id === 4', hits: [4], compiled: true },
  { when: 'withGetter.total > 1 && id === 2', hits: 'removed', compiled: true, code: 'TSPUMA_ERR_PROBE_SIDE_EFFECT' },
  { when: 'proxied.total > 1 && id === 2', hits: 'removed', compiled: true, code: 'TSPUMA_ERR_PROBE_SIDE_EFFECT' },
  // V8 reads a name in its TDZ at a breakpoint as undefined: false, never a hit; not compiled, the same.
  { when: 'later > 1', hits: [], compiled: /reads `later` before its declaration/ },
  { when: 'id == "2" || order.total == 70', hits: [2, 7], compiled: true },
  { when: 'limit < id', hits: [7, 8], compiled: true },
  { when: 'req.method === "GET" && id === 1', hits: [1], compiled: true },
  { when: 'order.tags.includes("a") && id === 3', hits: [3], compiled: /calls a function/ },
  { when: 'order.twice > 100', hits: [6, 7, 8], compiled: true },
  { when: 'unused > 1', hits: 'removed', compiled: /`unused`, a name of an enclosing scope that this function does not use/, code: 'TSPUMA_ERR_PROBE_WHEN_THROWS' },
];

afterAll(killAll);

interface View {
  id: number;
  workers: Record<string, { at?: string; state: string }>;
}

async function start(liveEdit: boolean): Promise<{ s: Booted; api: <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }> }> {
  const dir = tempDir('when');
  // The pause budget at its most: the breakpoint side pauses at every pass of 15 lines.
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { probePauseBudget: 1000, probeLiveEdit: ${liveEdit} };\n`);
  const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, APP]);
  const control = await controlUrl(s);
  const api = async <T,>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as T };
  };
  return { s, api };
}

/** Sets the table's probes, sends the ids, and answers with each probe's `at`, the ids it logged and its removal code. */
async function runTable(liveEdit: boolean): Promise<{ at: string[]; hits: (number[] | 'removed')[]; codes: (string | null)[]; runs: string; said: string[] }> {
  const { s, api } = await start(liveEdit);
  const views: View[] = [];
  for (const [i, row] of TABLE.entries()) {
    const set = await api<View>('POST', '/probes', { kind: 'log', location: `${APP}:${lineOf(APP, `const c${i + 1} = ${i + 1};`)}`, template: 'id={id}', when: row.when, by: 'the test' });
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    views.push(await answeredView(async () => (await api<View>('GET', `/probes/${set.body.id}`)).body));
    // Id 0 holds for no row: each probe's first pass (a pause on a breakpoint, for its checked
    // evaluation) comes here, one at a time, not 15 in the first request, which a loaded machine
    // could make last past the pause budget.
    expect((await fetch(`${s.url}/0`, { signal: AbortSignal.timeout(10_000 * SLOWNESS) })).status).toBe(200);
  }
  for (const id of IDS) {
    const res = await fetch(`${s.url}/${id}`, { signal: AbortSignal.timeout(10_000 * SLOWNESS) });
    expect(res.status).toBe(200);
    await res.text();
  }
  const removedCode = (id: number) => (s.lines().find((l) => l.probe === id && typeof l.code === 'string' && /removed/.test(String(l.msg)))?.code as string | undefined) ?? null;
  const logged = (id: number) => s.lines().filter((l) => l.probe === id && typeof l.values === 'object').map((l) => (l.values as { id: number }).id);
  // Every hit is logged before its request is answered; the removals' lines are what is waited for.
  await waitFor(() => TABLE.every((row, i) => row.hits !== 'removed' || removedCode(views[i]!.id) !== null), 'the removals logged', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; lines: ${JSON.stringify(s.lines().filter((l) => 'probe' in l)).slice(0, 4000)}`);
  });
  await waitFor(() => TABLE.every((row, i) => row.hits === 'removed' || logged(views[i]!.id).length >= row.hits.length), 'the hits logged', 20_000).catch(() => null);
  const runs = await (await fetch(`${s.url}/runs`)).text();
  // What the server said of each probe, for a failure's message.
  const said = s.lines().filter((l) => 'probe' in l && typeof l.values !== 'object').map((l) => `${String(l.probe)}: ${String(l.msg).slice(0, 240)}`);
  return {
    said,
    at: views.map((v) => v.workers['0']!.at ?? ''),
    hits: TABLE.map((row, i) => (removedCode(views[i]!.id) !== null ? 'removed' : logged(views[i]!.id))),
    codes: views.map((v) => removedCode(v.id)),
    runs,
  };
}

describe('--when compiled into the live-edit gate', () => {
  it('each condition of the table hits the same ids compiled as on a V8 conditional breakpoint; getters and proxies never run; the set answer says which form each took', async () => {
    const [compiled, breakpoint] = await Promise.all([runTable(true), runTable(false)]);
    expect(compiled.hits, compiled.said.join('\n')).toEqual(TABLE.map((r) => r.hits));
    expect(breakpoint.hits, breakpoint.said.join('\n')).toEqual(compiled.hits);
    expect(compiled.codes).toEqual(TABLE.map((r) => r.code ?? null));
    expect(breakpoint.codes).toEqual(compiled.codes);
    expect([compiled.runs, breakpoint.runs]).toEqual(['0', '0']);
    for (const [i, row] of TABLE.entries()) {
      if (row.compiled === true) expect(compiled.at[i], row.when).toMatch(/\(condition compiled into the gate; gate compiled in by live edit: [\d.]+ ms\)$/);
      else expect(compiled.at[i], row.when).toMatch(new RegExp(`\\(conditional breakpoint: its --when is not compiled: .*${row.compiled.source}`));
      expect(breakpoint.at[i], row.when).toMatch(/\(conditional breakpoint: live edit is off \(probeLiveEdit: false\)\)$/);
    }
  }, 90_000 * SLOWNESS);
});
