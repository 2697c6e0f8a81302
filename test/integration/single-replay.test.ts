// Integration: `tspuma replay` against a single-mode server (-w 0 --inspect) of
// examples/express.ts: a chrome-remote-interface client attached to the server's inspector through
// discovery (`tspuma-single`) is seen, and the server stops there, at the dump's culprit line,
// with the replayed request, until the client resumes it (rather than a snapshot being taken and
// the client's pause resumed at once). The dump is one the cluster's debug mode wrote for this
// request (its culprit frame and request), as replay reads it. With -d and a client that holds
// each pause a moment (N17), replay still reports the stop: the answer can reach it before the
// server has noted the stop, and it reads the probe again before it concludes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import type { ListEntry } from '../../inspector/discovery.js';
import { boot, discoveryUrl, killAll, run, ROOT } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { SLOWNESS, waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const EXPRESS = join(ROOT, 'examples/express.ts');
const THROW_LINE = lineOf('examples/express.ts', 'throw new Error(`unknown coupon ${coupon}`)');
const REPO_THROW_LINE = lineOf('examples/users-repo.ts', 'throw new Error(`no account ${id}`)');

afterAll(killAll);

/** A single-mode server of examples/express.ts with --inspect and a control app, and a dump of a failed order for it. */
async function serverAndDump(extra: string[] = [], repo = false): Promise<{ s: Awaited<ReturnType<typeof boot>>; state: string; file: string }> {
  const dir = tempDir('single-replay');
  const state = join(dir, 'tspuma.state');
  const s = await boot([...extra, '-w', '0', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, EXPRESS]);
  const body = JSON.stringify({ items: [{ sku: 'B-2', price: 40, quantity: 2 }], coupon: 'NOPE-55' });
  const dump: Dump = {
    ...fixtureDump('exception', `examples/express.ts:${THROW_LINE}`),
    frames: [{ function: 'discountFor', file: 'examples/express.ts', line: THROW_LINE, column: 11, receiver: 'undefined', locals: {} }],
    request: { id: 'orig-1', remote: '127.0.0.1', method: 'POST', url: '/orders', headers: { host: new URL(s.url).host, 'content-type': 'application/json', 'content-length': String(body.length) }, body: { type: 'json', text: body } },
  } as Dump;
  const file = join(dir, 'dump.json');
  // Or GET /accounts/-4, whose culprit is in a helper module after an await.
  const repoDump = {
    ...dump,
    frames: [{ function: 'AccountRepository.findById', file: 'examples/users-repo.ts', line: REPO_THROW_LINE, column: 53, receiver: 'AccountRepository', locals: {} }],
    request: { id: 'orig-2', remote: '127.0.0.1', method: 'GET', url: '/accounts/-4', headers: { host: new URL(s.url).host } },
  } as Dump;
  writeFileSync(file, JSON.stringify(repo ? repoDump : dump));
  return { s, state, file };
}

describe('tspuma replay on a single-mode server', () => {
  it('stops the client attached to tspuma-single at the culprit line with the replayed request', async () => {
    const { s, state, file } = await serverAndDump();
    const discovery = await discoveryUrl(s);
    const client = await attachThroughDiscovery(discovery, 'tspuma-single');
    try {
      let paused: { callFrames: { callFrameId: string; functionName: string }[] } | null = null;
      client.on('Debugger.paused', (params: NonNullable<typeof paused>) => {
        if (!paused && params.callFrames[0]?.functionName === 'discountFor') paused = params;
      });
      await client.Debugger.enable({});
      await waitFor(async () => ((await okJson(await fetch(`${discovery}/json/list`), '/json/list')) as ListEntry[]).some((e) => e.id === 'tspuma-single' && e.tspuma.clients > 0), 'the client counted by discovery');
      const replay = run(['replay', file, '-S', state]);
      const hit = await waitFor(() => paused, 'the client paused in discountFor', 20_000);
      const value = async (expression: string) => (await client.Debugger.evaluateOnCallFrame({ callFrameId: hit.callFrames[0]!.callFrameId, expression, returnByValue: true })).result.value as unknown;
      expect(await value('coupon')).toBe('NOPE-55');
      expect(replay.stderr()).toContain('a debugger is attached to the server\n');
      await client.Debugger.resume({});
      expect(await replay.exited, replay.stderr()).toBe(0);
      expect(replay.stdout()).toMatch(new RegExp(`the server stopped at examples/express\\.ts:${THROW_LINE} with request replay-`));
      expect(replay.stderr()).toContain('answered 500');
    } finally {
      await client.close();
    }
  }, 60_000 * SLOWNESS);

  it('with -d, says the server stopped there (exit 0) when the client holds each pause a moment (the stop, then debug mode\'s at the throw) and resumes', async () => {
    const { s, state, file } = await serverAndDump(['-d'], true);
    const discovery = await discoveryUrl(s);
    const client = await attachThroughDiscovery(discovery, 'tspuma-single');
    try {
      let stopped = 0;
      client.on('Debugger.paused', (params: { callFrames: { functionName: string }[] }) => {
        if (params.callFrames[0]?.functionName.endsWith('findById')) stopped++;
        setTimeout(() => void client.Debugger.resume({}).catch(() => undefined), 1500);
      });
      await client.Debugger.enable({});
      await waitFor(async () => ((await okJson(await fetch(`${discovery}/json/list`), '/json/list')) as ListEntry[]).some((e) => e.id === 'tspuma-single' && e.tspuma.clients > 0), 'the client counted by discovery');
      const replay = run(['replay', file, '-S', state]);
      expect(await replay.exited, replay.stderr()).toBe(0);
      expect(stopped).toBeGreaterThanOrEqual(1);
      expect(replay.stdout()).toMatch(new RegExp(`the server stopped at examples/users-repo\\.ts:${REPO_THROW_LINE} with request replay-`));
      expect(replay.stderr()).not.toContain('without reaching');
    } finally {
      await client.close();
    }
  }, 60_000 * SLOWNESS);
});
