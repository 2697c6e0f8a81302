// Commands that wait on a running server: `tspuma probe snapshot --hits N` whose probe the pause
// budget suspended in every worker says so and stops waiting (S20), and a control app whose
// connections from this address are all busy answering (a burst of probe sets) answers 503
// TSPUMA_ERR_LISTENER_BUSY, which `tspuma probe`/`ctl` retry, instead of a reset the CLI took
// for "not running" (S22).
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, controlUrl, killAll, run, ROOT } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const EXPRESS = join(ROOT, 'examples/express.ts');
const TOKEN = 'probe-token-waits-0123456789abcdef';

afterAll(killAll);

/** A -w 1 server of examples/express.ts with a control app and a state file, and `config` written to its config file. */
async function server(config: string) {
  const dir = tempDir('probe-waits');
  writeFileSync(join(dir, 'tspuma.config.mjs'), `export default ${config};\n`);
  const state = join(dir, 'state.json');
  const s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '1', '-b', 'tcp://127.0.0.1:0', '-S', state, '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, EXPRESS], { TSPUMA_DUMP_DIR: join(dir, 'dumps') });
  return { s, state, control: await controlUrl(s) };
}

/**
 * The server the three tests share (booted when one first asks; a -w 1 Express boot each was two):
 * a pause budget of 1 ms a second, which the first test's snapshot is over; the other two set no
 * probe that is hit (a counter stopped at once, probe sets whose bodies never come), and their
 * probes and connections are their own.
 */
let shared: ReturnType<typeof server> | undefined;
const sharedServer = () => (shared ??= server('{ probePauseBudget: 1 }'));

describe('waiting probe commands', () => {
  it('probe snapshot --hits 3 whose probe the pause budget suspends in every worker says so and exits, instead of waiting for hits that never come (S20)', async () => {
    // A budget of 1 ms a second: the first snapshot (milliseconds of reads) is over it.
    const { s, state } = await sharedServer();
    const cmd = run(['probe', 'snapshot', 'examples/express.ts:15', '--hits', '3', '--for', '300s', '-S', state]);
    let code: number | null = null;
    void cmd.exited.then((c) => (code = c));
    await waitFor(() => cmd.stderr().includes('waiting for 3 hit(s)'), 'the command to wait', 30_000);
    const deadline = Date.now() + 30_000 * SLOWNESS;
    for (let i = 0; i < 400 && code === null && Date.now() < deadline; i++) {
      await fetch(`${s.url}/users/${i}`).catch(() => undefined);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 100)); // past the snapshot rate's second now and then
    }
    await waitFor(() => code !== null, 'probe snapshot to exit', 15_000);
    expect(cmd.stderr()).toMatch(/probe 1 is suspended in every worker, so no more snapshots will come \(1 of 3 taken\): worker 0: Probe 1 at examples\/express\.ts:15 suspended in worker 0: probes kept it paused [\d.]+ ms within one second/);
    expect(cmd.stdout().trim().split('\n')).toHaveLength(1);
    expect(code).toBe(0);
  });

  it('probe count stopped by SIGTERM (a supervisor, timeout) removes its counter, as Ctrl-C does (T2)', async () => {
    const { state, control } = await sharedServer();
    const cmd = run(['probe', 'count', 'examples/express.ts:15', '-S', state]);
    await waitFor(() => /probe (\d+) set/.test(cmd.stderr()), 'the counter set', 30_000);
    const id = Number(/probe (\d+) set/.exec(cmd.stderr())![1]);
    cmd.proc.kill('SIGTERM');
    await cmd.exited;
    expect(cmd.stderr()).toContain(`tspuma: probe ${id} removed`);
    const view = (await (await fetch(`${control}/probes/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { active: boolean; ended: string };
    expect(view.active).toBe(false);
    expect(view.ended).toMatch(/^removed by /);
  });

  it('with every connection the control app allows from 127.0.0.1 busy, a new one gets 503 TSPUMA_ERR_LISTENER_BUSY, and tspuma probe list retries until one frees instead of saying the server is not running (S22)', async () => {
    const { s, state, control } = await sharedServer();
    const { port } = new URL(control);
    // 16 probe sets whose heads are in and whose bodies never finish: each holds its connection busy
    // (the server's 100 Continue says it has the head, so the request is in progress).
    const held: Socket[] = [];
    for (let i = 0; i < 16; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      held.push(socket);
      let seen = '';
      socket.on('data', (c: Buffer) => (seen += c.toString()));
      socket.on('error', () => undefined);
      socket.write(`POST /probes HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n`);
      await waitFor(() => seen.includes('100 Continue'), `held connection ${i} to be in progress`, 10_000);
    }
    try {
      const refused = await fetch(`${control}/probes`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toEqual({ code: 'TSPUMA_ERR_LISTENER_BUSY', error: 'The control app is busy: the 16 connections it allows from 127.0.0.1 are open, each answering a request, so it answered this connection 503 and closed it (many tspuma commands at once? each probe set waits for every worker to arm it). Retry in a moment.' });
      const list = run(['probe', 'list', '-S', state]);
      let code: number | null = null;
      void list.exited.then((c) => (code = c));
      // Refused (it says it retries), then the held sets end.
      await waitFor(() => list.stderr().includes('is busy (every connection it allows from here is answering a request); retrying for up to 15 s'), 'the list command to be refused', 20_000);
      expect(code).toBe(null);
      for (const socket of held) socket.end('{}');
      await waitFor(() => code !== null, 'probe list to exit', 30_000);
      expect(list.stderr()).not.toMatch(/is it running|UNREACHABLE/);
      expect(list.stdout()).toMatch(/^ID\s+KIND/m);
      expect(code).toBe(0);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});
