// findPortHolder (server/port-holder.ts), in a child process whose parent (this test) holds the
// port: the parent is read first, then its other children (a sibling: a shell's other job, the
// server a test started before this one), so either is named however many processes the machine runs.
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { parseBind } from '../../server/binder-uri.js';
import { listenError } from '../../server/binder.js';
import { SLOWNESS } from '../helpers/net.js';

describe('findPortHolder', () => {
  it("names the parent process as a port's holder with no time left for a scan (a budget of 0 ms)", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const script = `import('${ROOT}dist/server/port-holder.js').then((m) => process.stdout.write(JSON.stringify(m.findPortHolder(${port}, 0))))`;
      const found = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { pid: number; command: string } | null;
      expect(found).toMatchObject({ pid: process.pid });
    } finally {
      blocker.close();
    }
  });

  it('names a sibling process (another child of the same parent) as the holder with a budget of 0 ms', async () => {
    const holder = spawn(process.execPath, ['-e', `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port)); setTimeout(() => process.exit(0), ${60_000 * SLOWNESS})`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        holder.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
        holder.once('exit', (code) => reject(new Error(`the holder exited (${code}) before listening`)));
      });
      const script = `import('${ROOT}dist/server/port-holder.js').then((m) => process.stdout.write(JSON.stringify(m.findPortHolder(${port}, 0))))`;
      const found = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { pid: number; command: string } | null;
      expect(found).toMatchObject({ pid: holder.pid });
    } finally {
      holder.kill();
    }
  });
});

describe('a port held by this process itself', () => {
  it("says so, naming the app's own listen() while loading, not 'held by pid N (this same command)' (review11.7)", async () => {
    // PORT=3000 tspuma app.ts with an Express app that calls app.listen(process.env.PORT) at load:
    // in single mode the app's server takes the port before tspuma binds it.
    const own = net.createServer();
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    const port = (own.address() as net.AddressInfo).port;
    try {
      const err = listenError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), parseBind(`tcp://127.0.0.1:${port}`, 'PORT in environment'));
      expect(err.code).toBe('TSPUMA_ERR_LISTEN_ADDRINUSE');
      expect(err.message).toContain(`Port ${port} is held by this process (pid ${process.pid}) itself: a server the app started while loading (TSPUMA_ERR_APP_LISTEN above: remove its listen() call, or start it only when the module is run directly), or another of tspuma's listeners`);
    } finally {
      own.close();
    }
  });
});
