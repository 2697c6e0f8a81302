// Integration: a server whose inspector ports are taken falls back to free ports and says where
// (boot log and state file); `tspuma inspect` run in the server's directory finds it through
// the state file its config names, and says which server it talks to. Node's own plain-text
// inspector lines stay out where tspuma logs the same fact.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, discoveryUrl, inspectorUrl, killAll, run, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

const held: net.Server[] = [];
afterEach(async () => {
  await killAll();
  for (const s of held.splice(0)) s.close();
});

const APP = join(ROOT, 'test/fixtures/profile/app.ts');

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
  const dir = mkdtempSync(join(tmpdir(), 'tspuma-find-'));
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
  it('single mode, both ports taken: free ports used and logged, the state file holds them, `inspect list` in the project finds this server', async () => {
    const base = await holdRange(2);
    const dir = project();
    mkdirSync(join(dir, 'tmp'));
    const s = await boot([`--inspect=127.0.0.1:${base}`, '-b', 'tcp://127.0.0.1:0', APP], {}, dir);
    const lines = s.lines();
    const discovery = String(lines.find((l) => typeof l.inspect === 'string')!.inspect).replace(/\/json\/list$/, '');
    const own = lines.find((l) => String(l.msg).startsWith('* Inspector of the server (PID: '))!;
    expect(new URL(discovery).port).not.toBe(String(base));
    expect(new URL(String(own.inspector)).port).not.toBe(String(base + 1));
    const fallback = lines.find((l) => String(l.msg).startsWith(`Inspector port ${base + 1} (the server) is in use`))!;
    expect(fallback.msg).toContain(`held by pid ${process.pid}`);
    expect(fallback.msg).toContain(`opened ${new URL(String(own.inspector)).host} instead`);
    expect(lines.some((l) => String(l.msg).startsWith(`* DevTools for the server (PID: ${s.proc.pid}): devtools://`))).toBe(true);
    // tspuma saw the port taken and did not ask Node, so Node printed no failure of its own.
    expect(s.stderr()).not.toContain('Starting inspector on');

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

  it('-w 1: the state file lists the primary\'s and the worker\'s inspectors; only the primary prints Node\'s own "Debugger listening" line', async () => {
    const dir = project('workerCheckInterval: 1');
    const s = await boot(['-w', '1', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '-S', join(dir, 'state.json'), APP], {}, dir);
    const discovery = await discoveryUrl(s);
    // The worker registers its inspector as it boots; the primary then rewrites the file.
    const read = () => (existsSync(join(dir, 'state.json')) ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State) : null);
    const state = await waitFor(() => (read()?.inspectors?.length === 2 ? read() : null), 'the state file with 2 inspectors');
    // Port 0: each inspector on a port of its own, as each process logged it.
    expect(state.inspect_url).toBe(discovery);
    expect(state.inspectors.map((t) => [t.id, t.worker, t.ws])).toEqual([
      ['tspuma-primary', null, await inspectorUrl(s, null)],
      ['tspuma-worker-0', 0, await inspectorUrl(s, 0)],
    ]);
    expect(s.stderr().match(/Debugger listening on/g)).toHaveLength(1);
    expect(s.stderr()).toContain(`Debugger listening on ${state.inspectors[0]!.ws}`);
    // -S names the file explicitly; the header says where the address came from.
    const listed = run(['inspect', 'list', '-S', join(dir, 'state.json')], {}, ROOT);
    expect(await listed.exited, listed.stderr()).toBe(0);
    expect(listed.stdout().split('\n')[0]).toBe(`tspuma server pid ${s.proc.pid}, app ${APP}, cwd ${dir}, at ${discovery} (from state file ${join(dir, 'state.json')})`);
  });
});
