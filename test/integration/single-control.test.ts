// Integration: single mode (-w 0) serving examples/express.ts with --control-url and -S, as a user
// starts it: the control app is served and named in the boot lines and the state file; `tspuma ctl`
// stats and stop work, cluster-only commands are refused with a coded error; probes (logpoints,
// snapshots, a hit in a helper module after an await) work as on a cluster; an option only
// cluster mode reads is named in a coded warning rather than dropped silently.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, controlUrl, killAll, run, ROOT, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { items, postOrder } from '../helpers/orders.js';
import { ended } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

const EXPRESS = join(ROOT, 'examples/express.ts');
const CHARGE_LINE = lineOf('examples/express.ts', 'const charge = await chargeCard(order, paymentApiKey);');
const CARD_LINE = lineOf('examples/express.ts', 'async function chargeCard(') + 1;
const FOUND_LINE = lineOf('examples/users-repo.ts', 'const account = { id, name:');

let s: Booted;
let state: string;
let dumps: string;

const order = (body: unknown, headers: Record<string, string> = {}) => postOrder(s.url, body, headers);

/** `tspuma ARGS -S STATE` (ctl or probe), to its exit. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = run([...args, '-S', state]);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

const hitsOf = (id: number) => s.lines().filter((l) => l.probe === id && typeof l.values === 'object');

beforeAll(async () => {
  const dir = tempDir('single-control');
  state = join(dir, 'tspuma.state');
  dumps = join(dir, 'dumps');
  // A config file shared with a cluster deployment: workerTimeout means nothing in single mode.
  writeFileSync(join(dir, 'tspuma.config.mjs'), 'export default { workerTimeout: 30 };\n');
  s = await boot(['-C', join(dir, 'tspuma.config.mjs'), '-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, EXPRESS], { TSPUMA_DUMP_DIR: dumps });
});

afterAll(killAll);

describe('single mode (-w 0) with --control-url and -S', () => {
  it('serves the control app: its boot line, the state file\'s control_url and token, ctl stats', async () => {
    const url = await controlUrl(s);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { control_url: string; control_auth_token: string; pid: number };
    expect(saved.control_url).toBe(url.replace(/^http:/, 'tcp:'));
    expect(saved.control_auth_token).toMatch(/^[0-9a-f]{32}$/);
    expect(saved.pid).toBe(s.proc.pid);
    // The random token is in the 0600 state file only, never in the log.
    expect(s.stdout()).not.toContain(saved.control_auth_token);
    const stats = await cli(['ctl', 'stats']);
    expect(stats.code, stats.err).toBe(0);
    expect(JSON.parse(stats.out)).toMatchObject({ mode: 'single', requests_count: expect.any(Number), max_threads: expect.any(Number) });
  });

  it('ctl gc on a server started without --expose-gc says it did not run and how to start one that can, and exits 1 (Q23.4, T12.2)', async () => {
    const r = await cli(['ctl', 'gc']);
    expect(r.code, r.err).toBe(1);
    expect(JSON.parse(r.out)).toEqual({ message: 'gc not run: this server was started without --expose-gc; start it with NODE_OPTIONS=--expose-gc (its workers inherit it)', gc: false });
    expect(r.err).toBe('tspuma ctl gc: gc not run: this server was started without --expose-gc; start it with NODE_OPTIONS=--expose-gc (its workers inherit it)\n');
  });

  it('refuses cluster-only commands with TSPUMA_ERR_CONTROL_MODE and what to do instead', async () => {
    for (const command of ['restart', 'phased-restart', 'worker-count-up']) {
      const r = await cli(['ctl', command]);
      expect(r.code).toBe(1);
      // A refusal is on stderr, coded, and not on stdout, where a script reads answers (review20.4).
      expect(r.out).toBe('');
      expect(r.err).toContain(`tspuma ctl ${command}: TSPUMA_ERR_CONTROL_MODE: Control command ${command} needs cluster mode (-w N); this server runs in single mode`);
    }
    // Still serving.
    expect((await order({ items: items(1) })).status).toBe(201);
  });

  it('warns with TSPUMA_ERR_OPTION_MODE about an option only cluster mode reads, naming where it was set', () => {
    const warn = s.lines().find((l) => l.code === 'TSPUMA_ERR_OPTION_MODE');
    expect(warn).toMatchObject({ level: 40, option: 'workerTimeout' });
    expect(warn!.msg).toMatch(/Option `workerTimeout` \(config file .*tspuma\.config\.mjs, key `workerTimeout`\) has no effect in single mode \(-w 0\)/);
  });

  it('a logpoint logs each hit with the template values and its request id', async () => {
    const set = await cli(['probe', 'log', `examples/express.ts:${CHARGE_LINE}`, 'charged {order.id} total={order.total} key={paymentApiKey}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    expect(set.err).toContain(`probe ${id} set: logpoint at`);
    expect((await order({ items: items(42, 2) }, { 'x-request-id': 'single-req-1' })).status).toBe(201);
    const line = await waitFor(() => hitsOf(id)[0], 'the hit line');
    expect(line).toMatchObject({ request: 'single-req-1', values: { 'order.total': 84, paymentApiKey: '[redacted]' } });
    expect(line.msg).toMatch(new RegExp(`^probe ${id} .*express\\.ts:${CHARGE_LINE} \\[single-req-1\\]: charged \\d+ total=84 key=\\[redacted\\]$`));
    // list and rm right after the hit count it: the server collects the counts before answering (M5.2).
    const list = await cli(['probe', 'list', '--json']);
    expect((JSON.parse(list.out) as { id: number; hitsSeen: number; pausedSeen: number }[]).find((p) => p.id === id)).toMatchObject({ hitsSeen: 1, pausedSeen: 1 });
    const rm = await cli(['probe', 'rm', String(id)]);
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toMatch(new RegExp(`removed probe ${id} \\(log at .*; 1 hit\\(s\\)\\)`));
    expect((await order({ items: items(1) })).status).toBe(201);
    expect(hitsOf(id)).toHaveLength(1);
  });

  it('a hit in a helper module, after an await, names its request', async () => {
    const set = await cli(['probe', 'log', `examples/users-repo.ts:${FOUND_LINE}`, 'found {id}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    expect((await fetch(`${s.url}/accounts/5`, { headers: { connection: 'close', 'x-request-id': 'single-repo-5' } })).status).toBe(200);
    const line = await waitFor(() => hitsOf(id)[0], 'the hit in users-repo.ts');
    expect(line).toMatchObject({ request: 'single-repo-5', values: { id: 5 } });
    await cli(['probe', 'rm', String(id)]);
  });

  it('a snapshot probe writes a snapshot with its locals, its request, and secrets redacted', async () => {
    const p = run(['probe', 'snapshot', `examples/express.ts:${CARD_LINE}`, '-S', state]);
    await waitFor(() => p.stderr().includes('waiting for'), 'the probe set');
    expect((await order({ items: items(7, 3) }, { authorization: 'Bearer sekrit-bearer-value', 'x-request-id': 'single-snap-1' })).status).toBe(201);
    expect(await p.exited).toBe(0);
    const path = p.stdout().trim();
    const text = readFileSync(path, 'utf8');
    const dump = JSON.parse(text) as Dump;
    expect(dump).toMatchObject({ kind: 'snapshot', phase: 'probe', request: { id: 'single-snap-1', headers: { authorization: '[redacted]' } } });
    const top = dump.frames[dump.culprit]!;
    expect(top).toMatchObject({ function: 'chargeCard', line: CARD_LINE });
    expect(top.locals.apiKey).toBe('[redacted]');
    expect(text).not.toContain('sekrit-bearer-value');
  });

  // Last: it stops the server.
  it('ctl stop --wait stops it gracefully with a probe set and returns once it has exited (T12.1): exit code 0, the state file removed', async () => {
    const set = await cli(['probe', 'log', `examples/express.ts:${CHARGE_LINE}`, 'last {order.id}']);
    expect(set.code, set.err).toBe(0);
    const id = Number(set.out.trim());
    expect((await order({ items: items(2) })).status).toBe(201);
    await waitFor(() => hitsOf(id)[0], 'a hit');
    const stop = await cli(['ctl', 'stop', '--wait']);
    expect(stop.code, stop.err).toBe(0);
    expect(JSON.parse(stop.out)).toEqual({ message: 'stopped', exitCode: 0, pid: s.proc.pid });
    expect(ended(s.proc.pid!)).toBe(true); // gone when ctl returned, not only stopping
    expect(await s.exited).toBe(0);
    expect(s.lines().at(-1)!.msg).toBe('- Goodbye!');
    expect(s.stderr()).not.toContain('Waiting for the debugger');
    expect(existsSync(state)).toBe(false);
  });
});
