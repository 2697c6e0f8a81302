// Integration (single mode, no --inspect, probeLiveEdit on): a probe with no --when is armed by live edit (its gate
// compiled into the script, inspector/probe-edits.ts) and logs and snapshots as a breakpoint's
// probe does; one with a --when outside the compiled subset (probe-when-compile.ts), or in a process
// DevTools can attach to (--inspect), keeps its breakpoint; an app's own `debugger` statement does not hold the thread while a probe is set.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import type { ProbeView, ProbeWorkerView } from '../../server/cluster/probe-registry.js';
import { boot, killAll, run, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { answeredView } from '../helpers/probe-answered.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/live-edit-app.mjs';
const NAME_LINE = lineOf(APP, 'const name = `user ${id}`;');
const END_LINE = lineOf(APP, 'res.end(`${name}\\n`);');

afterAll(killAll);

type Control = <T = ProbeView>(method: string, path: string, body?: unknown) => Promise<T>;
type Server = { s: Booted; state: string; probe: (args: string[]) => Promise<{ code: number; out: string; err: string }>; control: Control; set: (kind: string, location: string, template?: string, when?: string) => Promise<number>; dumps: string; removeAll: () => Promise<void> };

async function start(extra: string[] = [], liveEdit = true, app = APP, env: Record<string, string> = {}): Promise<Server> {
  const dir = tempDir('live-edit');
  const state = join(dir, 'tspuma.state');
  // The pause budget at its most: a loaded machine's pauses are not what these tests are about.
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { probePauseBudget: 1000, probeLiveEdit: ${liveEdit} };\n`);
  const dumps = join(dir, 'dumps');
  const s = await boot([...extra, '-C', join(dir, 'tspuma.config.mjs'), '-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, app], { TSPUMA_DUMP_DIR: dumps, ...env });
  const probe = async (args: string[]) => {
    // A loaded machine is a user's loaded machine: the server's answer (a single-mode server busy
    // with a live edit took over the default 30 s at a load of 30: tests20.3) gets the bound scaled.
    const p = run(['probe', ...args, '--timeout', String(30 * SLOWNESS), '-S', state]);
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  };
  // The control app's /probes, a fetch where the CLI is not what a case is about (a `tspuma
  // probe` process costs about 50 ms of CPU; the CLI is the first case's, probes.test's and
  // single-control.test's).
  const { control_url: url, control_auth_token: token } = JSON.parse(readFileSync(state, 'utf8')) as { control_url: string; control_auth_token: string };
  const control = async <T,>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url.replace(/^tcp:/, 'http:')}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return (await res.json()) as T;
  };
  // A set returns once worker 0 has armed the probe (or said why not): a request sent before would pass it by.
  const set = async (kind: string, location: string, template?: string, when?: string) => {
    const { id } = await control<ProbeView>('POST', '/probes', { kind, location, ...(template ? { template } : {}), ...(when ? { when } : {}), by: 'the test' });
    await answered(control, id);
    return id;
  };
  const removeAll = async () => void (await control('DELETE', '/probes?all=1'));
  return { s, state, probe, control, set, dumps, removeAll };
}

/**
 * The app's server of each probeLiveEdit setting, booted when a test first asks for it and shared
 * by the tests after (7 boots were 4): each test's probes are removed after it, and each finds its
 * lines by its probes' ids.
 */
const shared = new Map<boolean, Promise<Server>>();
function server(liveEdit: boolean): Promise<Server> {
  if (!shared.has(liveEdit)) shared.set(liveEdit, start([], liveEdit));
  return shared.get(liveEdit)!;
}

/** Worker 0's side of probe `id` once it has answered the set (test/helpers/probe-answered.ts). */
async function answered(control: Control, id: number): Promise<ProbeWorkerView> {
  return (await answeredView(() => control<ProbeView>('GET', `/probes/${id}`))).workers['0']!;
}

/** Where worker 0 armed probe `id` (what `probe list` shows). */
async function armedAt(server: Server, id: number): Promise<string> {
  const w = await answered(server.control, id);
  expect(w.state, JSON.stringify(w)).toBe('armed');
  return w.at ?? '';
}

/** The first n hit lines of probe `id`; on a timeout, the error quotes the server's lines about probes. */
const hitsOf = (s: Booted, id: number, n: number) =>
  waitFor(() => {
    const h = s.lines().filter((l) => l.probe === id && typeof l.values === 'object');
    return h.length >= n ? h : null;
  }, `${n} hit(s) of probe ${id}`, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; the server's lines about probes: ${JSON.stringify(s.lines().filter((l) => 'probe' in l || /probe/i.test(String(l.msg)))).slice(0, 3000)}; stderr: ${s.stderr().slice(0, 1000)}`);
  });

const get = async (s: Booted, path: string) => (await fetch(`${s.url}${path}`, { signal: AbortSignal.timeout(10_000 * SLOWNESS) })).text();

/**
 * Two groups that run side by side ({ concurrent: true }): the cases on the shared servers one after
 * another (it.sequential), each cleaning up after itself, and the cases that boot a server of their
 * own, beside them and each other. Those mostly wait (a held request, a removed guard's 5 s, a boot):
 * in turn the file took 20 s of a quiet run's wall for 3.3 s of CPU.
 */
describe('probes armed by live edit, on the shared servers', { concurrent: true }, () => {
  afterEach(async () => {
    for (const booted of shared.values()) await (await booted).removeAll();
  });

  it.sequential('a logpoint and a snapshot with no --when are compiled in: hits log their values, the snapshot stops at the probed line; a --when that calls a function keeps the breakpoint', async () => {
    const srv = await server(true);
    const { s, probe, dumps } = srv;
    const set = await probe(['log', `${APP}:${NAME_LINE}`, 'id={id}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    expect(await armedAt(srv, id)).toMatch(/\(template and gate compiled in by live edit: [\d.]+ ms; a hit logs with no pause\)/);
    expect(await get(s, '/7')).toBe('user 7\n');
    expect(await get(s, '/8')).toBe('user 8\n');
    // Its template compiled into the guard too: each hit logs with no pause.
    expect((await hitsOf(s, id, 2)).map((h) => [h.values, h.paused])).toEqual([[{ id: 7 }, false], [{ id: 8 }, false]]);

    const snap = await probe(['snapshot', `${APP}:${END_LINE}`, '--no-wait']);
    expect(snap.code, snap.err).toBe(0);
    const sid = Number(snap.out.trim());
    expect(await armedAt(srv, sid)).toContain('live edit');
    expect(await get(s, '/9')).toBe('user 9\n');
    const written = await waitFor(() => s.lines().find((l) => l.probe === sid && typeof l.path === 'string'), 'the snapshot written');
    expect(String(written.path).startsWith(dumps)).toBe(true);
    const dump = JSON.parse(readFileSync(String(written.path), 'utf8')) as Dump;
    const top = dump.frames[0]!;
    expect([top.line, JSON.stringify(top.locals)]).toEqual([END_LINE, expect.stringContaining('"name"')]);

    // Removed, the source is the app's again: the same line takes a --when outside the compiled subset (a call), on a breakpoint.
    expect((await probe(['rm', '--all'])).code).toBe(0);
    expect(await get(s, '/10')).toBe('user 10\n');
    const when = await probe(['log', `${APP}:${NAME_LINE}`, 'big id={id}', '--when', 'String(id).length > 2']);
    expect(when.code, when.err).toBe(0);
    const wid = Number(when.out.trim());
    expect(await armedAt(srv, wid)).toMatch(/\(conditional breakpoint: its --when is not compiled: it calls a function\)$/);
    expect(await get(s, '/11')).toBe('user 11\n');
    expect(await get(s, '/111')).toBe('user 111\n');
    expect((await hitsOf(s, wid, 1)).map((h) => h.values)).toEqual([{ id: 111 }]);
  }, 60_000 * SLOWNESS);

  it.sequential('a logpoint whose template compiles logs with no pause, redacted as a paused hit is; a value behind a getter (req.headers, computed on first use) is read at a pause, as before', async () => {
    const template = 'name={name} url={req.url} token={req.token} q={req.url.length} raw={req.rawHeaders}';
    // The same hit, with live edit off (a breakpoint: every hit pauses) and on (compiled: none does).
    const lines: unknown[][] = [];
    for (const liveEdit of [false, true]) {
      const srv = await server(liveEdit);
      const { s, removeAll } = srv;
      const id = await srv.set('log', `${APP}:${END_LINE}`, template);
      if (liveEdit) expect(await armedAt(srv, id)).toMatch(/\(template and gate compiled in by live edit: [\d.]+ ms; a hit logs with no pause\)$/);
      expect(await get(s, '/21?key=sk_live_4eC39HqLyjWDarjtT1zdp7dc')).toBe('user 0\n');
      const [hit] = await hitsOf(s, id, 1);
      expect([typeof hit!.request, hit!.paused]).toEqual(['string', !liveEdit]);
      expect(s.stdout() + s.stderr()).not.toContain('4eC39HqLyjWDarjtT1zdp7dc');
      // An object (the raw headers' array) is described by V8 either way; the port is each server's own.
      const port = new URL(s.url).port;
      // (And the probe's id: each shared server numbers its own.)
      lines.push(JSON.parse(JSON.stringify([String(hit!.msg).replace(`[${String(hit!.request)}]`, '[request]').replace(`probe ${id} `, 'probe ID '), hit!.values, hit!.redactions]).replaceAll(`:${port}`, ':PORT')) as unknown[]);
      await removeAll();
    }
    // The request's query secret and a secret-named member: redacted as at a pause, word for word.
    expect(lines[1]).toEqual(lines[0]);
    expect(lines[1]![1]).toEqual({ name: 'user 0', 'req.url': '/21?key=[redacted]', 'req.token': '[redacted]', 'req.url.length': 40, 'req.rawHeaders': { summary: expect.stringContaining('"127.0.0.1:PORT"') } });
    const { s, set } = await server(true);
    // Node's req.headers is a getter: the compiled read cannot decide it, the hit pauses, V8 reads it.
    const gid = await set('log', `${APP}:${END_LINE}`, 'host={req.headers.host} name={name}');
    expect(await get(s, '/22')).toBe('user 22\n');
    const [paused] = await hitsOf(s, gid, 1);
    expect([paused!.values, paused!.paused]).toEqual([{ 'req.headers.host': expect.stringMatching(/^127\.0\.0\.1:\d+$/), name: 'user 22' }, true]);
  }, 60_000 * SLOWNESS);

  it.sequential("an app's own debugger statement does not hold the thread while a probe is set (no DevTools can attach), with or without live edit", async () => {
    for (const liveEdit of [false, true]) {
      const { s, set } = await server(liveEdit);
      const id = await set('log', `${APP}:${END_LINE}`, 'name={name}');
      expect(await get(s, '/13'), `probeLiveEdit: ${liveEdit}`).toBe('user 13\n');
      expect((await hitsOf(s, id, 1)).map((h) => h.values)).toEqual([{ name: 'user 13' }]);
    }
  }, 60_000 * SLOWNESS);
});

describe('probes armed by live edit, on servers of their own', { concurrent: true }, () => {
  it('a probe removed while its function waits at an await, the worker\'s last probe, is taken out of the app\'s code once the function returns (P1)', async () => {
    const app = 'test/fixtures/apps/live-edit-await-app.mjs';
    const srv = await start([], true, app);
    const { s } = srv;
    const id = await srv.set('log', `${app}:${lineOf(app, 'const found = `user ${id}`;')}`, 'id={id}');
    expect(await armedAt(srv, id)).toContain('live edit');
    expect(await get(s, '/src')).toContain('__tspumaProbe');
    const holding = get(s, '/hold/5');
    await waitFor(async () => ((await get(s, '/waiting')) === 'true' ? true : null), 'the request waiting in held()');
    // V8 refuses the restore while held() waits at its await: the removal is pending.
    await srv.removeAll();
    expect(await get(s, '/release')).toBe('released');
    expect(await holding).toBe('user 5\n');
    await waitFor(async () => (!(await get(s, '/src')).includes('__tspumaProbe') ? true : null), "held()'s source without the probe's guard", 20_000, 200).catch(async (err: Error) => {
      throw new Error(`${err.message}; held() reads: ${await get(s, '/src')}`);
    });
  }, 60_000 * SLOWNESS);

  it("a removed probe's guard stays in the code for 5 s (a count probe set again at its line takes it over with no edit), then the app's source is its own again and the probe session is closed; a server stopped with a guard left exits 0 without an edit", async () => {
    const app = 'test/fixtures/apps/live-edit-await-app.mjs';
    const exitFile = join(tempDir('live-edit-exit'), 'held.js');
    const { s, control } = await start([], true, app, { LIVE_EDIT_EXIT_FILE: exitFile });
    const location = `${app}:${lineOf(app, 'const found = `user ${id}`;')}`;
    const original = await get(s, '/src');
    expect([original.includes('__tspumaProbe'), await get(s, '/gate')]).toEqual([false, 'undefined']);
    const first = await control<ProbeView>('POST', '/probes', { kind: 'count', location, by: 'the test' });
    expect(first.workers?.['0']?.at).toMatch(/\(gate compiled in by live edit: [\d.]+ ms\)$/);
    await control('DELETE', '/probes?all=1');
    // Right after the removal: still in the code, the session up.
    expect([(await get(s, '/src')).includes('__tspumaProbe'), await get(s, '/gate')]).toEqual([true, 'function']);
    const again = await control<ProbeView>('POST', '/probes', { kind: 'count', location, by: 'the test' });
    expect(again.workers?.['0']?.at).toMatch(/\(gate compiled in by live edit: no edit, a removed probe's guard was still in the code\)$/);
    await control('DELETE', '/probes?all=1');
    await waitFor(async () => ((await get(s, '/src')) === original && (await get(s, '/gate')) === 'undefined' ? true : null), "held()'s own source back and the probe session closed", 30_000, 200).catch(async (err: Error) => {
      throw new Error(`${err.message}; held() reads: ${await get(s, '/src')}; the gate: ${await get(s, '/gate')}`);
    });
    // A guard left as the server stops: no edit on the way out (held's source at exit still has it), exit 0.
    await control('POST', '/probes', { kind: 'count', location, by: 'the test' });
    await control('DELETE', '/probes?all=1');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(readFileSync(exitFile, 'utf8')).toContain('__tspumaProbe');
  }, 60_000 * SLOWNESS);

  it('with --inspect (DevTools may attach and set breakpoints an edit would drop) the probe keeps its breakpoint', async () => {
    const srv = await start(['--inspect=127.0.0.1:0']);
    const { s } = srv;
    const id = await srv.set('log', `${APP}:${NAME_LINE}`, 'id={id}');
    expect(await armedAt(srv, id)).not.toContain('live edit');
    expect(await get(s, '/21')).toBe('user 21\n');
    expect((await hitsOf(s, id, 1)).map((h) => h.values)).toEqual([{ id: 21 }]);
  }, 60_000 * SLOWNESS);
});
