// In-process tests of `tspuma ctl`'s argument and state-file errors (no server: each is refused
// before a request is sent).
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ctl, timeoutBound } from '../../server/cli/ctl.js';
import type { TspumaError } from '../../server/errors.js';
import { tcpServers } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('tspuma ctl: exit code', () => {
  it('exits 1 for gc when the server answers that it did not run it (no --expose-gc), 0 when it ran (T12.2)', async () => {
    let exposed = false;
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(exposed ? { message: 'gc requested', gc: true } : { message: 'gc not run: …', gc: false }));
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      const args = ['gc', '--control-url', `tcp://127.0.0.1:${port}`, '--control-token', 'x'.repeat(32)];
      expect(await ctl(args)).toBe(1);
      exposed = true;
      expect(await ctl(args)).toBe(0);
    } finally {
      process.stdout.write = write;
      server.close();
    }
  });
});

describe('tspuma ctl: a control app that accepts and never answers', () => {
  const tcp = tcpServers();
  afterEach(() => tcp.closeAll());

  async function stderrOf(args: string[]): Promise<{ rc: number; text: string }> {
    let text = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stderr.write;
    try {
      return { rc: await ctl(args), text };
    } finally {
      process.stderr.write = write;
    }
  }

  it('says how long it waited, that the bound was the default or --timeout\'s, and how to wait longer', async () => {
    const control = ['--control-url', `tcp://127.0.0.1:${await tcp.serve(() => undefined)}`, '--control-token', 'x'.repeat(32)];
    const given = await stderrOf(['stats', '--timeout', '0.3', ...control]);
    expect(given).toEqual({ rc: 1, text: 'tspuma ctl: stats failed: no answer within 0.3 s (from --timeout; a larger one waits longer)\n' });
    const waited = await ctl(['phased-restart', '--wait', '--timeout', '0.3', ...control]).catch((err: TspumaError) => err);
    expect((waited as TspumaError).code).toBe('TSPUMA_ERR_CONTROL_WAIT');
    expect((waited as TspumaError).message).toContain('no answer within 0.3 s (from --timeout; a larger one waits longer): the server has not reached');
    // The default's bound (120 s) is not waited out here: its words, which the same error carries.
    expect(timeoutBound(false)).toBe('the default; --timeout SECONDS waits longer');
    expect(timeoutBound(true)).not.toBe(timeoutBound(false));
  });
});

describe('tspuma ctl -S', () => {
  it("says on stderr, when the control app refuses the state file's token, that the token came from that file and whether its server still runs (review19.12)", async () => {
    const dir = tempDir('ctl');
    dirs.push(dir);
    // What a control app answers a wrong token (server/control.ts), from a server that is not the file's.
    const server = http.createServer((req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'a valid token is required (the query parameter "token", or an Authorization header with a Bearer token); wrong or missing (1 of 10 allowed per 60 s)', code: 'TSPUMA_ERR_CONTROL_REFUSED' }));
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    const gone = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const file = path.join(dir, 'state.json');
    const written: string[] = [];
    const [out, err] = [process.stdout.write, process.stderr.write];
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      writeFileSync(file, JSON.stringify({ pid: gone, control_url: `tcp://127.0.0.1:${port}`, control_auth_token: 'x'.repeat(32) }));
      expect(await ctl(['stats', '-S', file])).toBe(1);
      writeFileSync(file, JSON.stringify({ pid: process.pid, control_url: `tcp://127.0.0.1:${port}`, control_auth_token: 'x'.repeat(32) }));
      expect(await ctl(['stats', '-S', file])).toBe(1);
    } finally {
      [process.stdout.write, process.stderr.write] = [out, err];
      server.close();
    }
    const refusal = 'tspuma ctl stats: TSPUMA_ERR_CONTROL_REFUSED: a valid token is required (the query parameter "token", or an Authorization header with a Bearer token); wrong or missing (1 of 10 allowed per 60 s)\n';
    expect(written).toEqual([
      refusal,
      `tspuma ctl: the control app at tcp://127.0.0.1:${port} refused the token of the state file ${file}: the server that wrote it (pid ${gone}) is not running, so the file is stale and another server listens at that address now. Start the server again, or delete the state file.\n`,
      refusal,
      `tspuma ctl: the control app at tcp://127.0.0.1:${port} refused the token of the state file ${file}: the server that wrote it (pid ${process.pid}) still runs, so another server listens at that address (its control URL reused), or the file was changed since it was written.\n`,
    ]);
  });


  it('says the state file has no control URL and how to get one, when the server was started without --control-url', async () => {
    const dir = tempDir('ctl');
    dirs.push(dir);
    const file = path.join(dir, 'state.json');
    writeFileSync(file, JSON.stringify({ pid: 1, control_url: null, control_auth_token: null }));
    const refused = ctl(['stats', '-S', file]);
    await expect(refused).rejects.toMatchObject({ code: 'TSPUMA_ERR_CLI_USAGE' });
    await expect(refused).rejects.toThrow(`the state file ${file} has no control URL: start the server with --control-url`);
  });

  it("a state file that is not there says what writes it and when, not node's ENOENT line (a script that ran `tspuma probe -S` as soon as a single-mode server answered met it: the file comes after the binds)", async () => {
    const dir = tempDir('ctl');
    dirs.push(dir);
    const file = path.join(dir, 'app.state');
    const refused = ctl(['stats', '-S', file]);
    await expect(refused).rejects.toMatchObject({ code: 'TSPUMA_ERR_CLI_USAGE' });
    await expect(refused).rejects.toThrow(`there is no state file ${file} (yet): a server started with -S ${file} writes it as it boots (in single mode once its binds answer, so a script that waits for the port can be early) and removes it when it stops`);
  });

  it('T13: a state file whose server is gone gets the coded unreachable error naming the dead pid, not a raw connect line', async () => {
    const dir = tempDir('ctl');
    dirs.push(dir);
    // A port nothing listens on (bound, then closed) and the pid of a process that has exited.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(gone.stdout);
    const file = path.join(dir, 'state.json');
    writeFileSync(file, JSON.stringify({ pid, control_url: `tcp://127.0.0.1:${port}`, control_auth_token: 'x'.repeat(32) }));
    const refused = ctl(['stats', '-S', file]);
    await expect(refused).rejects.toMatchObject({ code: 'TSPUMA_ERR_CONTROL_UNREACHABLE' });
    await expect(refused).rejects.toThrow(`Cannot reach the control app at tcp://127.0.0.1:${port} (from the state file ${file}): the connection was refused, nothing listens there (ECONNREFUSED); the server of this state file (pid ${pid}) is not running: the state file is stale`);
    // It says the server is not running, so it does not then ask whether it is (N22).
    await expect(refused).rejects.toThrow(/the state file is stale \(a server killed with SIGKILL, or a machine restarted, leaves it\)\. Start the server again, or delete the state file\.$/);
  });
});
