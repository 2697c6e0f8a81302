// A stop signal that comes once the binds listen but before the boot has ended (review14.4): the
// requests the server accepted finish, as in any graceful stop, rather than being cut by an exit.
// The boot is held between the two by its pidfile check, which reads the file: a FIFO there blocks
// that read until this test opens the FIFO for writing (and removes it, so that the pidfile is
// then written as a file of its own). After the check, the inspector's start
// (--inspect) turns the event loop before the boot ends: the signal is taken there.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromLog, killAll, run } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('boot-stop');
afterAll(killAll);

/**
 * Opens the FIFO for writing, removes it and closes it (its reader then reads nothing, and the
 * pidfile is then written as a new file): false while no reader has it open.
 */
function release(fifo: string): boolean {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false; // ENXIO: the server has not reached the read yet
  }
  unlinkSync(fifo);
  closeSync(fd);
  return true;
}

describe('a stop signal during the boot, after the binds listen', () => {
  it('single mode: SIGTERM before the ready line lets the request already accepted finish (200), then the server stops and exits 0', async () => {
    const fifo = join(dir, 'held.pid');
    execFileSync('mkfifo', [fifo]);
    const s = run(['-b', 'tcp://127.0.0.1:0', '--inspect=127.0.0.1:0', '--pidfile', fifo, 'test/fixtures/slow.mjs']);
    const port = await fromLog(s, (l) => (typeof l.port === 'number' && String(l.msg).startsWith('* Listening on') ? l.port : undefined), 'the Listening line');
    // Accepted by the kernel while the boot is held; served once it goes on.
    const answered = fetch(`http://127.0.0.1:${port}/slow?ms=300`).then(
      async (r) => `${r.status} ${await r.text()}`,
      (err: Error) => `failed: ${err.message}`,
    );
    s.proc.kill('SIGTERM');
    await waitFor(() => release(fifo), 'the server reading its pidfile');
    expect(await answered).toBe('200 slept 300\n');
    expect(await s.exited, s.stdout() + s.stderr()).toBe(0);
    const said = s.lines().map((l) => String(l.msg));
    expect(said).toContain('Signal received while booting: stopping gracefully once the boot ends (requests already accepted finish)');
    expect(said).toContain('- Goodbye!');
    expect(said).not.toContain('Use Ctrl-C to stop');
  });
});
