// descriptor-watch.ts: the line a server out of file descriptors logs, with injected probes
// (no descriptor is really exhausted here; hardening.test does that to a real server).
import { describe, expect, it } from 'vitest';
import { DescriptorWatch } from '../../server/descriptor-watch.js';
import { captureLogger } from '../helpers/server.js';

/** An error as open(2) throws it from tspuma's own probe: the stack names the probe, not the failure. */
function emfile(): NodeJS.ErrnoException {
  return Object.assign(new Error("EMFILE: too many open files, open '/dev/null'"), { code: 'EMFILE', errno: -24, syscall: 'open' });
}

describe('DescriptorWatch', () => {
  it('names the limit (RLIMIT_NOFILE) and the open counts under TSPUMA_ERR_OUT_OF_DESCRIPTORS, without the stack of its own probe', async () => {
    const { logger, lines } = captureLogger();
    const watch = new DescriptorWatch({ log: logger, diagnostics: null, connections: () => 55, probe: () => { throw emfile(); }, descriptors: () => ({ limit: 80, open: 80 }) });
    watch.check();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({ level: 50, code: 'TSPUMA_ERR_OUT_OF_DESCRIPTORS', errno: 'EMFILE', limit: 80, open: 80, connections: 55 });
    expect(line.err).toBeUndefined();
    expect(JSON.stringify(line)).not.toMatch(/probeDevNull|descriptor-watch|\/dev\/null/);
    expect(line.msg).toBe('accept failed: EMFILE: this process is out of file descriptors: all 80 its limit allows (RLIMIT_NOFILE: `ulimit -n`, LimitNOFILE= under systemd) are open, 55 of them connections and 25 other descriptors (files, pipes, the listeners). Connections arriving meanwhile are closed unanswered; raise the limit above the connections you expect (plus about 100) or lower the connection count.');
  });

  it('says the system-wide table is full for ENFILE, and still logs when the counts cannot be read', async () => {
    const { logger, lines } = captureLogger();
    const enfile = Object.assign(new Error('ENFILE: file table overflow'), { code: 'ENFILE' });
    const watch = new DescriptorWatch({ log: logger, diagnostics: null, connections: () => 3, probe: () => { throw enfile; }, descriptors: () => ({ limit: null, open: null }) });
    watch.check();
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({ code: 'TSPUMA_ERR_OUT_OF_DESCRIPTORS', errno: 'ENFILE', connections: 3 });
    expect(lines[0]!.msg).toMatch(/^accept failed: ENFILE: the system is out of file descriptors \(its table, fs\.file-max, is full\); 3 connections open here\./);
  });
});
