// Unit: `tspuma inspect stack|profile|heap` against a discovery whose worker's inspector accepts
// the connection and never answers the WebSocket upgrade (a worker busy at boot on a loaded
// machine): the attach is bounded by --timeout for every command, and the error says how to wait
// longer. (Before, profile and heap attached within a fixed 2 s and the error named no option.)
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspect } from '../../server/cli/inspect.js';
import type { TspumaError } from '../../server/errors.js';
import { tcpServers } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const tcp = tcpServers();
const serving = tcp.serve;
let dir: string;

/** A discovery (/json/list) listing worker 0, whose inspector accepts and stays silent. */
async function silentWorker(): Promise<string> {
  const silent = await serving(() => undefined);
  const entry = {
    id: 'tspuma-worker-0', title: 'tspuma worker 0 (pid 4242)', type: 'node', url: 'file:///srv/app', description: '', faviconUrl: '',
    devtoolsFrontendUrl: '', devtoolsFrontendUrlCompat: '', webSocketDebuggerUrl: `ws://127.0.0.1:${silent}/tspuma-worker-0`,
    tspuma: { pid: 4242, worker: 0, direct: '', clients: 0 },
  };
  const body = JSON.stringify([entry]);
  const port = await serving((c) => c.once('data', () => c.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)));
  return `http://127.0.0.1:${port}`;
}

async function failure(args: string[]): Promise<{ err: TspumaError; ms: number }> {
  const started = Date.now();
  const err = await inspect(args).then(
    () => { throw new Error('inspect resolved'); },
    (e: TspumaError) => e,
  );
  return { err, ms: Date.now() - started };
}

beforeAll(() => {
  dir = tempDir('inspect-bound');
  // The server line inspect writes first is not what is tested here.
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => tcp.closeAll());

describe('tspuma inspect: the attach bound', () => {
  it('heap and profile attach within --timeout, and the error says the bound came from --timeout', async () => {
    for (const command of [['heap', '--out', join(dir, 'h.heapsnapshot')], ['profile', '--seconds', '1', '--out', join(dir, 'p.cpuprofile')]]) {
      const { err } = await failure([...command, '--url', await silentWorker(), '--timeout', '300']);
      expect(err.code).toBe('TSPUMA_ERR_INSPECT_CONNECT');
      // The message is made from the bound its timer ran with (the command's wall time also holds
      // its modules' loading, which a loaded machine can stretch past 2 s: not asserted).
      expect(err.message).toContain('no answer within 300 ms (from --timeout; a larger one waits longer)');
    }
  });

  it('stack at the default bound: the error says 2000 ms is the default and how to wait longer', async () => {
    const { err, ms } = await failure(['stack', '--url', await silentWorker()]);
    expect(err.code).toBe('TSPUMA_ERR_INSPECT_CONNECT');
    expect(err.message).toContain('no answer within 2000 ms (the default; `tspuma inspect stack --timeout MS` waits longer)');
    expect(ms).toBeGreaterThanOrEqual(1990);
  });
});
