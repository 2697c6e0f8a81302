// SIGHUP as Puma treats it: a cluster started on a terminal stops gracefully when the terminal
// hangs up (the whole process group gets SIGHUP: the workers leave the decision to the primary);
// with its output redirected, a hangup is logged and ignored.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT, boot, fromLog, hermeticEnv } from '../helpers/cli.js';
import { get, waitFor } from '../helpers/net.js';
import { alive, childrenOf, owned } from '../helpers/processes.js';

const APP = join(ROOT, 'test/fixtures/environ-app.mjs');
const mine = owned('hup');
afterEach(mine.release);
/** The process group of `pid`, from /proc/PID/stat (the field after the state). */
const pgidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[2]);

describe('SIGHUP in cluster mode', () => {
  it('on a terminal: a hangup of the process group (the terminal closing) stops the primary gracefully, pidfile removed, and its worker with it', async () => {
    const dir = mine.tempDir();
    const pidfile = join(dir, 'tspuma.pid');
    // script(1) runs tspuma on a pseudo-terminal of its own, as a shell in a terminal window does.
    const command = [process.execPath, CLI, '-w', '1', '-b', 'tcp://127.0.0.1:0', '--pidfile', pidfile, APP].map((a) => `'${a}'`).join(' ');
    const proc = spawn('script', ['-qfec', command, '/dev/null'], { env: hermeticEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    mine.own(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => existsSync(pidfile) && /Worker 0 \(PID: \d+\) booted/.test(out), 'the cluster to boot on the terminal', 20_000);
    const primary = Number(readFileSync(pidfile, 'utf8'));
    const workers = childrenOf(primary);
    expect(workers).toHaveLength(1);
    // The terminal goes away with the hangup (script exits with its shell), so what tspuma logs
    // after it is lost: the pidfile, removed at the end of a graceful stop, tells how it stopped.
    process.kill(-pgidOf(primary), 'SIGHUP');
    const state = () => [primary, ...workers].filter(alive).map((p) => `${p}: ${/^State:.*$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[0] ?? '?'}`).join(', ');
    await waitFor(() => !alive(primary) && workers.every((w) => !alive(w)), 'the primary and its worker to exit', 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; still running: ${state()}; output:\n${out}`);
    });
    expect(existsSync(pidfile)).toBe(false);
  });

  it('with the output redirected: a SIGHUP is logged as ignored and the cluster serves on', async () => {
    const s = await boot(['-w', '1', '-b', 'tcp://127.0.0.1:0', APP]);
    s.proc.kill('SIGHUP');
    await fromLog(s, (l) => (l.signal === 'SIGHUP' && /ignored, the output is redirected/.test(String(l.msg)) ? true : undefined), 'the SIGHUP line');
    expect((await get(s.url)).status).toBe(200);
    expect(s.proc.exitCode).toBe(null);
  });
});
