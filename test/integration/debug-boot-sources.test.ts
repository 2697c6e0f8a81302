// A -d boot photographs its listen() call (capture.ts snapshot): tspuma's own frames, whose
// async-arrow check reads their script's source. Through the inspector protocol the source of a
// 230 KB chunk cost ~20 ms of the boot's CPU at load 17 (bench/README, session 18 dboot2); a
// script of tspuma's own dist/ is read from its file instead, when the file has the length V8
// reported for it. What each process asked the protocol for is logged by
// test/fixtures/script-source-log, loaded with --import.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, killAll, run } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('script-source-log');
afterAll(killAll);
const logged = { NODE_OPTIONS: `--import=${pathToFileURL(`${ROOT}test/fixtures/script-source-log/register.mjs`).href}`, SCRIPT_SOURCE_LOG_DIR: dir };
const asked = (pid: number): string[] => (existsSync(join(dir, `${pid}.txt`)) ? readFileSync(join(dir, `${pid}.txt`), 'utf8').split('\n').filter(Boolean) : []);

describe('a -d boot reads the sources of tspuma\'s own scripts from their files', () => {
  it('an asynchronous EADDRINUSE is dumped from the listen snapshot with the listen frame and its values, and no source under dist/ went through the protocol', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const s = run(['-d', '--inspect=off', '-b', `tcp://127.0.0.1:${port}?backlog=77`, 'test/fixtures/apps/hello.mjs'], logged);
      expect(await s.exited).toBe(1);
      expect(s.stderr()).toMatch(/tspuma dump #1 \[listen\].*EADDRINUSE/);
      expect(s.stderr()).toMatch(/> #0 listen  server\/binder\.ts:\d+/);
      expect(s.stderr()).toContain('backlog=77');
      const dist = pathToFileURL(`${ROOT}dist/`).href;
      expect(asked(s.proc.pid!).filter((u) => u.startsWith(dist)), 'sources of dist/ read through the protocol').toEqual([]);
    } finally {
      holder.close();
    }
  }, 30_000 * SLOWNESS);
});
