// Integration: a server whose discovery port is taken falls back to a free port and says where
// (boot log and state file); `tspuma inspect` run in the server's directory finds it through
// the state file its config names, and says which server it talks to. Node's own plain-text
// inspector lines stay out where tspuma logs the same fact.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { boot, discoveryUrl, inspectorUrl, killAll, killAllBut, run, ROOT, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const APP = join(ROOT, 'test/fixtures/profile/app.ts');

/**
 * One -w 1 server with an inspector, its app found by default (./app.ts, a copy of APP) and its
 * state file named relative to its folder, booted by the first of the two cases that read it: the
 * state file's targets, and the app it names (a -w 1 boot of its own each cost about 0.4 s of CPU).
 */
let oneWorker: Promise<{ s: Booted; dir: string }> | undefined;
function workerServer(): Promise<{ s: Booted; dir: string }> {
  oneWorker ??= (async () => {
    const dir = project('workerCheckInterval: 1');
    copyFileSync(APP, join(dir, 'app.ts'));
    return { s: await boot(['-w', '1', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '-S', 'state.json'], {}, dir), dir };
  })();
  return oneWorker;
}

const held: net.Server[] = [];
afterEach(async () => {
  await killAllBut((await oneWorker?.catch(() => undefined))?.s);
  for (const s of held.splice(0)) s.close();
});
afterAll(killAll);

/** Listens on 127.0.0.1:port in this process; the port it got. */
function hold(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      held.push(s);
      resolve((s.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Holds `count` consecutive ports (the first the kernel's choice) until the test ends: ports
 * another process owns, taken before tspuma starts and never let go in between.
 */
async function holdRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const mark = held.length;
    const base = await hold(0);
    let ok = base + count <= 65536;
    for (let p = base + 1; p < base + count && ok; p++) ok = await hold(p).then(() => true, () => false);
    if (ok) return base;
    for (const s of held.splice(mark)) s.close();
  }
  throw new Error(`no ${count} consecutive ports could be held`);
}

/** A directory whose tspuma.config.mjs names a state file, as a project would. */
function project(extra = ''): string {
  const dir = tempDir('find');
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { state: 'tmp/tspuma.state', ${extra} };\n`);
  return dir;
}

interface State {
  pid: number;
  app: string | null;
  inspect_url: string;
  running_from: string;
  inspectors: { id: string; pid: number; worker: number | null; ws: string }[];
}

describe('finding a server\'s inspectors', () => {
  it('single mode, discovery\'s port taken: a free port used and logged, the server\'s target on it, the state file holds it, `inspect list` in the project finds this server', async () => {
    const base = await holdRange(1);
    const dir = project();
    mkdirSync(join(dir, 'tmp'));
    const s = await boot([`--inspect=127.0.0.1:${base}`, '-b', 'tcp://127.0.0.1:0', APP], {}, dir);
    const lines = s.lines();
    const discovery = String(lines.find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
    const own = lines.find((l) => String(l.msg).startsWith('* Inspector of the server (PID: '))!;
    expect(new URL(discovery).port).not.toBe(String(base));
    // The warning is coded and names who holds the port, as a busy bind does (N17): here, this test process.
    const busy = lines.find((l) => String(l.msg).startsWith(`Inspector discovery port ${base} is in use`))!;
    expect(busy).toMatchObject({ code: 'TSPUMA_ERR_INSPECT_PORT_BUSY', port: base, holderPid: process.pid });
    expect(busy.msg).toMatch(new RegExp(`^Inspector discovery port ${base} is in use: held by pid ${process.pid} \\(.+\\)\\. Using a free port instead \\(the discovery line below names it\\); chrome://inspect set to 127\\.0\\.0\\.1:${base} shows that process's targets, not this server's\\.$`));
    // No port of its own: discovery's bridge serves the server's target.
    expect(own.inspector).toBe(`${discovery.replace(/^http/, 'ws')}/tspuma-single`);
    expect(lines.some((l) => String(l.msg).startsWith(`* DevTools for the server (PID: ${s.proc.pid}): devtools://`))).toBe(true);
    expect(s.stderr()).not.toContain('Debugger listening');

    const state = JSON.parse(readFileSync(join(dir, 'tmp/tspuma.state'), 'utf8')) as State;
    expect(state.pid).toBe(s.proc.pid);
    expect(state.app).toBe(APP);
    expect(state.inspect_url).toBe(discovery);
    expect(state.inspectors).toEqual([{ id: 'tspuma-single', pid: s.proc.pid, worker: null, ws: own.inspector }]);

    // No --url, no -S: the config file of the current directory names the state file.
    const listed = run(['inspect', 'list'], {}, dir);
    expect(await listed.exited, listed.stderr()).toBe(0);
    const [header, , row] = listed.stdout().split('\n');
    expect(header).toBe(`tspuma server pid ${s.proc.pid}, app ${APP}, cwd ${dir}, at ${discovery} (from state file tmp/tspuma.state (named by ${join(dir, 'tspuma.config.mjs')}))`);
    expect(row).toMatch(new RegExp(`^tspuma-single\\s+${s.proc.pid}\\s`));

    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(join(dir, 'tmp/tspuma.state'))).toBe(false);
  });

  it('-w 1: the state file lists the primary\'s target on discovery and the worker\'s own inspector; no process prints Node\'s own "Debugger listening" line', async () => {
    const { s, dir } = await workerServer();
    const discovery = await discoveryUrl(s);
    // The worker registers its inspector as it boots; the primary then rewrites the file.
    const read = () => (existsSync(join(dir, 'state.json')) ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State) : null);
    const state = await waitFor(() => (read()?.inspectors?.length === 2 ? read() : null), 'the state file with 2 inspectors');
    // The primary through discovery's bridge; the worker on a port of its own, as it logged it.
    expect(state.inspect_url).toBe(discovery);
    expect(state.inspectors.map((t) => [t.id, t.worker, t.ws])).toEqual([
      ['tspuma-primary', null, `${discovery.replace(/^http/, 'ws')}/tspuma-primary`],
      ['tspuma-worker-0', 0, await inspectorUrl(s, 0)],
    ]);
    expect(await inspectorUrl(s, null)).toBe(state.inspectors[0]!.ws);
    expect(s.stderr()).not.toContain('Debugger listening');
    // -S names the file explicitly; the header says where the address came from.
    const listed = run(['inspect', 'list', '-S', join(dir, 'state.json')], {}, ROOT);
    expect(await listed.exited, listed.stderr()).toBe(0);
    expect(listed.stdout().split('\n')[0]).toBe(`tspuma server pid ${s.proc.pid}, app ${join(dir, 'app.ts')}, cwd ${dir}, at ${discovery} (from state file ${join(dir, 'state.json')})`);
  });

  it('-w 1 with no APP argument (./app.ts found by default): the state file and `inspect list` name that app', async () => {
    const { s, dir } = await workerServer();
    const discovery = await discoveryUrl(s);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State;
    expect(state.app).toBe(join(dir, 'app.ts'));
    const listed = run(['inspect', 'list', '-S', 'state.json'], {}, dir);
    expect(await listed.exited, listed.stderr()).toBe(0);
    expect(listed.stdout().split('\n')[0]).toBe(`tspuma server pid ${s.proc.pid}, app ${join(dir, 'app.ts')}, cwd ${dir}, at ${discovery} (from state file state.json)`);
  });
});
