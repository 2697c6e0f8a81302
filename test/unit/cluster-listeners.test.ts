// The cluster's kept sockets between primary and worker: the fds each fork gets (systemd's, then
// the kept ones), the variable naming them, and a worker's options built from it.
import { describe, expect, it } from 'vitest';
import type { KeptBind } from '../../server/binder.js';
import { parseBind } from '../../server/binder-uri.js';
import { takeWorkerBinds, withWorkerBinds, workerListeners } from '../../server/cluster/listeners.js';
import { resolveOptions } from '../../server/options.js';
import { WORKER_BINDS_ENV, WORKER_LISTEN_FDS_ENV } from '../../server/shared-names.js';
import { activatedBinds } from '../../server/systemd.js';

const kept = (uri: string, fd: number): KeptBind => ({ spec: parseBind(uri, '-b in command line', '/srv'), fd, url: uri, close: () => {} });

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
