// `tspuma probe` against a stand-in control app on loopback: --timeout bounds each answer (the
// control app of a loaded server took over the fixed 30 s: tests20.3), and a set answered with a
// worker still arming (the server's own wait, ARM_WAIT_MS, over) is waited for up to --timeout,
// then said ("still arming in worker 1") with exit code 3 (tests20.4).
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probe, STILL_ARMING_EXIT, type ProbeOutput } from '../../server/cli/probe.js';
import { replay } from '../../server/cli/replay.js';
import type { ProbeView, ProbeWorkerView } from '../../server/cluster/probe-registry.js';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { tempDir } from '../helpers/temp.js';

const TOKEN = 'probe-cli-token-0123456789';
let server: http.Server | null = null;
let app: http.Server | null = null;

afterEach(async () => {
  for (const s of [server, app]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r) ?? r(undefined));
  }
  server = app = null;
});

function view(workers: Record<string, ProbeWorkerView['state']>, active = true): ProbeView {
  const w = (state: ProbeWorkerView['state']): ProbeWorkerView => ({ pid: 100, state, hits: 0, paused: 0, perSecond: 0, reportedAt: 0 });
  return {
    id: 7, kind: 'log', file: '/app/orders.ts', line: 8, column: null, lineText: 'charge();', template: 'x', when: null, hits: null, rate: 100,
    location: 'orders.ts:8', setAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString(), setBy: 'test', active, ended: active ? null : 'expired after 1 s', suspended: null,
    hitsSeen: 0, pausedSeen: 0, workers: Object.fromEntries(Object.entries(workers).map(([i, s]) => [i, w(s)])), snapshots: [], pausedIn: [],
  } as unknown as ProbeView;
}

/** A control app answering POST /probes with `first`, then each GET /probes/7 with the next of `then` (the last one kept). */
async function controlApp(handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end('{}');
    handle(req, res);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `tcp://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

function answering(first: ProbeView, then: ProbeView[]): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  let gets = 0;
  return (req, res) => {
    req.resume();
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'POST' && req.url === '/probes') return json(201, first);
    if (req.method === 'GET' && req.url === '/probes/7') return json(200, then[Math.min(gets++, then.length - 1)]);
    json(404, { error: 'no such route' });
  };
}

function io(): ProbeOutput & { stdout: string; stderr: string } {
  const o = { stdout: '', stderr: '', everyMs: 20, out: (t: string) => void (o.stdout += t), err: (t: string) => void (o.stderr += t) };
  return o;
}

describe('tspuma probe --timeout, and a set still arming in a worker', () => {
  it('waits for a worker still arming the probe when the set is answered, and says once every worker has answered (exit 0)', async () => {
    const url = await controlApp(answering(view({ 0: 'armed', 1: 'sent' }), [view({ 0: 'armed', 1: 'sent' }), view({ 0: 'armed', 1: 'sent' }), view({ 0: 'armed', 1: 'armed' })]));
    const o = io();
    expect(await probe(['log', 'orders.ts:8', 'x', '--control-url', url, '--control-token', TOKEN], o)).toBe(0);
    expect(o.stdout).toBe('7\n');
    expect(o.stderr).toContain('worker 0 armed; worker 1 still arming it (no answer yet)');
    expect(o.stderr).toContain('the answer of worker 1 to probe 7 is awaited, up to 30 s in all (the default; --timeout SECONDS waits longer)');
    expect(o.stderr).toContain('probe 7 answered in every worker: worker 0 armed; worker 1 armed');
  });

  it('says which worker is still arming it at --timeout and exits 3, the probe left set (its id printed)', async () => {
    const url = await controlApp(answering(view({ 0: 'armed', 1: 'sent' }), [view({ 0: 'armed', 1: 'sent' })]));
    const o = io();
    const started = performance.now();
    expect(await probe(['log', 'orders.ts:8', 'x', '--timeout', '0.5', '--control-url', url, '--control-token', TOKEN], o)).toBe(STILL_ARMING_EXIT);
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(STILL_ARMING_EXIT).toBe(3);
    expect(o.stdout).toBe('7\n');
    expect(o.stderr).toContain('probe 7 is still arming in worker 1 after 0.5 s (from --timeout; a larger one waits longer)');
    expect(o.stderr).toContain('tspuma probe rm 7');
  });

  it('a snapshot probe still arming in a worker at --timeout goes on waiting for its hit (a worker that arms later can take it)', async () => {
    const snap = (workers: Record<string, ProbeWorkerView['state']>, shots: ProbeView['snapshots'] = []) => ({ ...view(workers), kind: 'snapshot', hits: 1, snapshots: shots }) as ProbeView;
    const shot = { worker: 0, path: '/tmp/dumps/snap.json', requestId: null, time: new Date().toISOString() };
    const url = await controlApp(answering(snap({ 0: 'armed', 1: 'sent' }), [...Array.from({ length: 5 }, () => snap({ 0: 'armed', 1: 'sent' })), snap({ 0: 'armed', 1: 'sent' }, [shot])]));
    const o = io();
    expect(await probe(['snapshot', 'orders.ts:8', '--timeout', '0.3', '--control-url', url, '--control-token', TOKEN], o)).toBe(0);
    expect(o.stderr).toContain('still arming in worker 1 after 0.3 s');
    // 'waiting for … hit(s)' (what a script waits for before it sends its request) comes after the arming wait only.
    expect(o.stderr.indexOf('waiting for')).toBeGreaterThan(o.stderr.indexOf('still arming in worker 1 after'));
    expect(o.stdout).toBe('/tmp/dumps/snap.json\n');
  });

  it('bounds each answer of the control app by --timeout, and the error says where the bound came from', async () => {
    const url = await controlApp((req) => void req.resume()); // accepts, never answers
    const o = io();
    const started = performance.now();
    await expect(probe(['list', '--timeout', '0.4', '--control-url', url, '--control-token', TOKEN], o)).rejects.toMatchObject({
      code: 'TSPUMA_ERR_CONTROL_UNREACHABLE',
      message: expect.stringContaining('sent no answer within 0.4 s (from --timeout; a larger one waits longer)'),
    });
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('refuses a --timeout that is not a number of seconds above 0 with TSPUMA_ERR_CLI_USAGE naming the value', async () => {
    for (const bad of ['0', '-1', 'soon']) {
      await expect(probe(['list', '--timeout', bad, '--control-url', 'tcp://127.0.0.1:9', '--control-token', TOKEN], io())).rejects.toMatchObject({
        code: 'TSPUMA_ERR_CLI_USAGE',
        message: expect.stringContaining(`--timeout needs a number of seconds above 0; got ${JSON.stringify(bad)}`),
      });
    }
  });

  it('tspuma replay waits for a worker still arming its probe before it sends the request, up to --timeout', async () => {
    const events: string[] = [];
    const snap = (workers: Record<string, ProbeWorkerView['state']>, shots: ProbeView['snapshots'] = []) => ({ ...view(workers), kind: 'snapshot', hits: 1, snapshots: shots }) as ProbeView;
    const shot = { worker: 1, path: '/tmp/dumps/fresh.json', requestId: 'replay-x', time: new Date().toISOString() };
    let armedYet = false;
    let polls = 0;
    const url = await controlApp((req, res) => {
      req.resume();
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'POST') return json(201, snap({ 0: 'armed', 1: 'sent' }));
      if (req.method === 'DELETE') return json(200, snap({ 0: 'removed', 1: 'removed' }));
      // Worker 1 answers the set at the fourth look; the snapshot is there once the request came.
      if (!armedYet && ++polls >= 4) {
        armedYet = true;
        events.push('armed');
      }
      json(200, snap({ 0: 'armed', 1: armedYet ? 'armed' : 'sent' }, events.includes('request') ? [shot] : []));
    });
    app = http.createServer((req, res) => {
      events.push('request');
      req.resume();
      res.writeHead(500).end('{}');
    });
    await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
    const file = join(tempDir('replay-arming'), 'dump.json');
    writeFileSync(file, JSON.stringify({ ...fixtureDump('exception', 'src/repo.ts:10'), request: { id: 'req-1', remote: '127.0.0.1', method: 'GET', url: '/orders', headers: { host: 'shop.example.com' } } }));
    const o = io();
    const rc = await replay([file, '--timeout', '20', '--url', `http://127.0.0.1:${(app.address() as AddressInfo).port}`, '--control-url', url, '--control-token', TOKEN], o);
    expect(rc, o.stderr).toBe(0);
    expect(o.stderr).toContain('the answer of worker 1 to probe 7 is awaited, up to 20 s in all (from --timeout; a larger one waits longer)');
    // Sent once the worker had armed the probe, not before.
    expect(events).toEqual(['armed', 'request']);
    expect(o.stdout).toContain('fresh snapshot: /tmp/dumps/fresh.json');
  });
});
