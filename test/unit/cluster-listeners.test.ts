// The cluster's kept sockets between primary and worker: the fds each fork gets (systemd's, then
// the kept ones), the variable naming them, and a worker's options built from it; the primary's
// listen on them before any worker is forked.
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { bindForWorkers, type KeptBind } from '../../server/binder.js';
import { parseBind } from '../../server/binder-uri.js';
import { listenKept, takeWorkerBinds, withWorkerBinds, workerListeners } from '../../server/cluster/listeners.js';
import type { DiagnosticsHook } from '../../server/debug-hook.js';
import { TspumaError } from '../../server/errors.js';
import { resolveOptions } from '../../server/options.js';
import { WORKER_BINDS_ENV, WORKER_LISTEN_FDS_ENV } from '../../server/shared-names.js';
import { activatedBinds } from '../../server/systemd.js';
import { tempDir } from '../helpers/temp.js';

const kept = (uri: string, fd: number): KeptBind => ({ spec: parseBind(uri, '-b in command line', '/srv'), fd, url: uri, close: () => {}, listen: () => null });

describe('workerListeners / takeWorkerBinds / withWorkerBinds', () => {
  it("passes systemd's sockets first (fds 4..), then the kept ones, whose binds travel as JSON with the worker's fd of each", () => {
    const binds = [...activatedBinds([{ fd: 3, name: 'web' }]), parseBind('tcp://127.0.0.1:0?backlog=64', '-b in command line'), parseBind('unix://web.sock?mode=0660', '-b in command line', '/srv')];
    const passed = workerListeners(binds, [kept('tcp://127.0.0.1:0?backlog=64', 21), kept('unix://web.sock?mode=0660', 22)]);
    expect(passed.stdio).toEqual([3, 21, 22]);
    expect(passed.env[WORKER_LISTEN_FDS_ENV]).toBe('4=3:web');
    const env: NodeJS.ProcessEnv = { [WORKER_BINDS_ENV]: passed.env[WORKER_BINDS_ENV], OTHER: 'x' };
    const got = takeWorkerBinds(env)!;
    expect(env).toEqual({ OTHER: 'x' }); // the app never sees it
    expect(got.map((b) => [b.fd, b.uri, b.kept, b.backlog, b.mode, b.path])).toEqual([
      [5, 'tcp://127.0.0.1:0?backlog=64', true, 64, null, null],
      [6, 'unix://web.sock?mode=0660', true, 1024, 0o660, '/srv/web.sock'],
    ]);
    expect(takeWorkerBinds({})).toBeNull();
    // With systemd's sockets only, still set: a TSPUMA_BINDS in the primary's environment is overridden, not inherited.
    expect(workerListeners(activatedBinds([{ fd: 3, name: null }]), [])).toEqual({ stdio: [3], env: { [WORKER_LISTEN_FDS_ENV]: '4=3', [WORKER_BINDS_ENV]: '[]' } });
  });

  it("gives a worker the primary's binds (systemd's first), and names the config's binds added or removed since the primary started", () => {
    const options = resolveOptions([{ source: 'test', values: { workers: 2, bind: ['tcp://127.0.0.1:0', 'tcp://127.0.0.1:7001'] }, fromString: false }]);
    const fromPrimary = takeWorkerBinds({ [WORKER_BINDS_ENV]: workerListeners([], [kept('tcp://127.0.0.1:0', 30), kept('tcp://127.0.0.1:7000', 31)]).env[WORKER_BINDS_ENV] })!;
    const { options: worker, added, removed } = withWorkerBinds(options, fromPrimary);
    expect(worker.bind.map((b) => b.uri)).toEqual(['tcp://127.0.0.1:0', 'tcp://127.0.0.1:7000']);
    expect({ added, removed }).toEqual({ added: ['tcp://127.0.0.1:7001'], removed: ['tcp://127.0.0.1:7000'] });
    const same = withWorkerBinds(resolveOptions([{ source: 'test', values: { workers: 2, bind: ['tcp://127.0.0.1:0', 'tcp://127.0.0.1:7000'] }, fromString: false }]), fromPrimary);
    expect({ added: same.added, removed: same.removed }).toEqual({ added: [], removed: [] });
  });
});

describe('listenKept: the kept sockets listen before any worker is forked (T5)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => lines.push({ level, fields, msg });
  const log = { info: at('info'), warn: at('warn'), debug: () => undefined } as unknown as Logger;
  const connects = (to: net.NetConnectOpts) =>
    new Promise<string>((resolve) => {
      const c = net.connect(to);
      c.once('connect', () => {
        c.destroy();
        resolve('connected');
      });
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });

  it('a tcp and a unix bind, bound and not listening, accept connections into their backlogs afterwards (the test process holds them and accepts none), one line each with the backlog', async () => {
    const dir = tempDir('listen-kept');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const kept = [await bindForWorkers(parseBind('tcp://127.0.0.1:0?backlog=32', '-b in command line'), log), await bindForWorkers(parseBind(`unix://${join(dir, 'web.sock')}`, '-b in command line'), log)];
    cleanups.push(() => kept.forEach((k) => k.close()));
    const port = Number(new URL(kept[0]!.url).port);
    expect(await connects({ port, host: '127.0.0.1' })).toBe('ECONNREFUSED'); // bound only: what a fresh start refused for its whole first boot
    lines.length = 0;
    await listenKept(kept, log, null);
    expect(await connects({ port, host: '127.0.0.1' })).toBe('connected');
    expect(await connects({ path: join(dir, 'web.sock') })).toBe('connected');
    expect(lines.map((l) => [l.level, l.fields.backlog, l.msg])).toEqual([
      ['info', 32, `- Listening on ${kept[0]!.url} before the workers boot (backlog 32): until a worker has booted, connections wait in the backlog`],
      ['info', 1024, `- Listening on ${kept[1]!.url} before the workers boot (backlog 1024): until a worker has booted, connections wait in the backlog`],
    ]);
  });

  it('a port another process listened on between the bind and the listen: the coded EADDRINUSE (dumped with -d), and every kept socket closed', async () => {
    const kept = await bindForWorkers(parseBind('tcp://127.0.0.1:0', '-b in command line'), log);
    let closed = 0;
    cleanups.push(() => kept.close());
    const port = Number(new URL(kept.url).port);
    // Both sockets have SO_REUSEADDR (libuv's default) and ours is not listening yet: the kernel lets the other one bind and listen.
    const other = net.createServer();
    await new Promise<void>((resolve, reject) => other.once('error', reject).listen(port, '127.0.0.1', resolve));
    cleanups.push(() => other.close());
    const reports: { code: unknown; phase: unknown; snapshot: unknown }[] = [];
    const diagnostics = { snapshot: () => 'the listen snapshot', report: (e: unknown, ctx: { phase: unknown; snapshot?: unknown }) => reports.push({ code: (e as TspumaError).code, phase: ctx.phase, snapshot: ctx.snapshot }) } as unknown as DiagnosticsHook;
    const err = await listenKept([{ ...kept, close: () => (closed++, kept.close()) }], log, diagnostics).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_LISTEN_ADDRINUSE');
    expect((err as TspumaError).message).toContain(kept.spec.uri);
    expect(closed).toBe(1);
    // -d: dumped where it was made, with the snapshot taken before the helper ran (as a bind's listen error is).
    expect(reports).toEqual([{ code: 'TSPUMA_ERR_LISTEN_ADDRINUSE', phase: 'listen', snapshot: 'the listen snapshot' }]);
  });
});
