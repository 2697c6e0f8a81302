// Integration: the built `tspuma` CLI, started as a user would, driven by real clients and signals.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll, run, ROOT } from '../helpers/cli.js';
import { ownedByTest } from '../helpers/processes.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

// Each case runs servers or CLI processes of its own and mostly waits on them (boots, stops,
// forceShutdownAfter): they run side by side (each group { concurrent: true }), each ending its own
// (ownedByTest). In turn the file took 7.0 s of a quiet run's wall for 2.6 s of CPU.
afterAll(killAll);

const LOCAL = 'tcp://127.0.0.1:0';

describe('serving', { concurrent: true }, () => {
  it('serves examples/hello.ts with Puma-style boot lines and stops on SIGTERM with exit 0', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const s = mine.adopt(await boot(['-b', LOCAL, 'examples/hello.ts']));
    const msgs = s.lines().map((l) => l.msg);
    expect(msgs[0]).toMatch(/^tspuma \d+\.\d+\.\d+ starting in single mode/);
    expect(msgs).toContain('*  Max threads: 1024');
    expect(msgs).toContain('*  Environment: development');
    expect(msgs).toContain(`* Listening on ${s.url}`);
    const res = await fetch(s.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(await res.text()).toBe('Hello World\n');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.lines().map((l) => l.msg)).toContain('- Goodbye!');
  });

  it('logs through the one-file pino bundle that the build writes, compiled with the code cache the build leaves beside it, not pino package files', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    // The boot cost of pino's two dozen files is why the build bundles it, and the bundle's
    // compilation why it keeps V8's code cache (server/pino-load.ts).
    const probe = [
      `import { createRequire } from 'node:module';`,
      `const { createLogger } = await import(${JSON.stringify(`${ROOT}dist/server/logger.js`)});`,
      `const { pinoSource } = await import(${JSON.stringify(`${ROOT}dist/server/pino-load.js`)});`,
      `createLogger({ pretty: false }).warn({ probe: 1 }, 'bundled');`,
      `const loaded = Object.keys(createRequire(import.meta.url).cache);`,
      `console.log(JSON.stringify({ source: pinoSource(), packageFiles: loaded.filter((f) => f.includes('/node_modules/pino/')).length }));`,
    ].join('\n');
    // Two lines in either order: the logger writes stdout asynchronously (log-destination.ts), console.log at once.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 20_000 }).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out).toHaveLength(2);
    expect(out.find((l) => l.msg !== undefined)).toMatchObject({ level: 40, probe: 1, msg: 'bundled' });
    expect(out.find((l) => l.msg === undefined)).toEqual({ source: { from: 'bundle', file: `${ROOT}dist/vendor/pino.cjs`, cache: 'used' }, packageFiles: 0 });
  });

  // Express 5 from the real package (examples/express.ts) is discovery.test's single-mode server's first case.
  // Hono 4 from the real package (examples/hono.ts) is host.test's first case, on its server of it.

  it('serves fetch and node-listener examples', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const f = mine.adopt(await boot(['-b', LOCAL, 'examples/fetch.ts']));
    expect(await (await fetch(`${f.url}/echo`, { method: 'POST', body: 'ping' })).text()).toBe('ping');
    expect(await (await fetch(`${f.url}/stream`)).text()).toBe('event 0\nevent 1\nevent 2\nevent 3\nevent 4\n');
    const n = mine.adopt(await boot(['-b', LOCAL, 'examples/node-listener.ts']));
    expect(await (await fetch(`${n.url}/stream`)).text()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
  });

  // The default page without the config ('tspuma caught this error: …' and the throw's .ts line) is
  // test/unit/http.test.ts's 'answers an app throw with 500 and the development page' and
  // error-details.test's through the CLI: a plain boot of raise.ts here checked it a third time.
  it('answers the raise example through the config file lowlevelErrorHandler', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const custom = mine.adopt(await boot(['-C', 'examples/tspuma.config.ts', '-b', LOCAL, 'examples/raise.ts']));
    const r2 = await fetch(custom.url);
    expect(r2.status).toBe(500);
    expect(await r2.text()).toBe('An error has occurred (500). Try again.\n');
  });

  it('serves tcp, unix and ssl binds at once and removes the socket file on stop', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    const sock = join(dir, 'app.sock');
    const s = mine.adopt(await boot(['-b', LOCAL, '-b', `unix://${sock}`, '-b', `ssl://127.0.0.1:0?cert=test/fixtures/cert.pem&key=test/fixtures/key.pem`, 'test/fixtures/apps/hello.mjs']));
    expect(s.urls).toHaveLength(3);
    const viaUnix = await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: sock, path: '/' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(viaUnix).toBe('Hello World\n');
    const https = await import('node:https');
    const viaTls = await new Promise<string>((resolve, reject) => {
      https.get(s.urls[2]!, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(viaTls).toBe('Hello World\n');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('writes and removes a pidfile, and takes TSPUMA_OPTS below the command line', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    const pidfile = join(dir, 'tspuma.pid');
    const s = mine.adopt(await boot(['-b', LOCAL, '--pidfile', pidfile, 'test/fixtures/apps/hello.mjs'], { TSPUMA_OPTS: '-t 3:7 -b tcp://127.0.0.1:1' }));
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(s.proc.pid));
    const msgs = s.lines().map((l) => l.msg);
    expect(msgs).toContain('*  Max threads: 7'); // from TSPUMA_OPTS
    expect(new URL(s.url).port).not.toBe('1'); // the command line's -b won over TSPUMA_OPTS's (port 1); not a substring: a port 1xxxx has ':1' in it
    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });
});

describe('refusing bad input', { concurrent: true }, () => {
  // One value of each kind through the CLI (a bind, an option's check, a usage error): the others
  // of each kind are the unit tier's (binder-uri.test's backlog range, args.test's --fork-worker and
  // --inspect address, options.test's checks).
  it.each([
    ['backlog=abc', ['-b', 'tcp://127.0.0.1:0?backlog=abc'], /TSPUMA_ERR_BIND_BACKLOG: backlog="abc".*from 1 to 65535/],
    ['-t 5:2', ['-t', '5:2'], /TSPUMA_ERR_OPTION_INVALID: Option `threads` \(-t in command line\).*got 5:2/],
    ['unknown flag', ['--thread', '4'], /TSPUMA_ERR_CLI_USAGE: unknown option --thread\. Did you mean `--threads`/],
  ])('%s: exit 1 with a coded error and no stack', async (_name, args, pattern) => {
    const s = run([...args, 'test/fixtures/apps/hello.mjs']);
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(pattern);
    expect(s.stderr()).not.toMatch(/\n\s+at /);
  });

  it('names the key and suggests a fix for an unknown config key', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { app: '${ROOT}test/fixtures/apps/hello.mjs', persistenTimeout: 3 };\n`);
    const s = mine.adopt(run([], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(/TSPUMA_ERR_OPTION_UNKNOWN: Unknown option `persistenTimeout` \(config file tspuma\.config\.mjs, key `persistenTimeout`\)\. Did you mean `persistentTimeout`\?/);
  });

  it('refuses a `websocket` export of the wrong shape at boot, naming the file and what was expected', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    writeFileSync(join(dir, 'app.mjs'), `export default (req) => new Response('hi');\nexport const websocket = { message: 'not a function' };\n`);
    const s = mine.adopt(run(['-b', 'tcp://127.0.0.1:0', 'app.mjs'], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(/TSPUMA_ERR_APP_HANDLER: App .*app\.mjs exports `websocket` as .*; expected an object whose accept, open, message and close, where given, are functions\./);
  });

  it("`tspuma dump` of a file that is not a dump says so without its name or reason read as a secret (review12.6: `/etc/passwd: [redacted] token 'r'`): not JSON, and missing", async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    const notJson = mine.adopt(run(['dump', join(dir, 'passwd')]));
    expect(await notJson.exited).toBe(1);
    expect(notJson.stderr()).toContain(`TSPUMA_ERR_CLI_USAGE: ${join(dir, 'passwd')} is not a tspuma dump: it is not JSON (`);
    const missing = mine.adopt(run(['dump', join(dir, 'token.json')]));
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toContain(`TSPUMA_ERR_CLI_USAGE: cannot read the dump file ${join(dir, 'token.json')} (ENOENT: no such file or directory`);
    // The name and the reason are not read as a secret. The one piece redacted is V8's quote of the
    // file's start, which V8 cut ("root:x:0:0:root:/root:/bin/bash" -> "root:x:0:0"...): a cut quote
    // goes whole (review19.9).
    expect(notJson.stderr()).toContain(`it is not JSON (Unexpected token 'r', "[redacted]"... is not valid JSON)`);
    expect(notJson.stderr().replace('"[redacted]"...', '') + missing.stderr()).not.toContain('[redacted]');
  });

  it('lists what it tried when there is no app', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    const s = mine.adopt(run([], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(/TSPUMA_ERR_APP_NOT_FOUND: .*app\.ts, .*app\.js, .*index\.ts/);
  });

  it('says which flag took the app file as its value when there is no app (`tspuma -e src/app.ts`, review14.2)', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'app.ts'), 'export default () => new Response("ok");\n');
    const s = mine.adopt(run(['-e', 'src/app.ts'], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain("`-e` (command line) took `src/app.ts`, an app file, as its value: give -e a value of its own and the app last, e.g. `tspuma -e production src/app.ts`.");
    // From TSPUMA_OPTS too, with a long flag.
    const opts = mine.adopt(run([], { TSPUMA_OPTS: '--environment src/app.ts' }, dir));
    expect(await opts.exited).toBe(1);
    expect(opts.stderr()).toContain('`--environment` (TSPUMA_OPTS) took `src/app.ts`, an app file, as its value');
  });

  it('refuses to serve the default app.ts when a flag took another app file as its value (`tspuma -e src/app.ts` beside ./app.ts)', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'app.ts'), 'export default () => new Response("src");\n');
    writeFileSync(join(dir, 'app.ts'), 'export default () => new Response("old");\n');
    const s = mine.adopt(run(['-b', LOCAL, '-e', 'src/app.ts'], {}, dir));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toBe(`tspuma: TSPUMA_ERR_CLI_USAGE: \`-e\` took \`src/app.ts\`, an app file, as its value, and no APP was given, so ${join(dir, 'app.ts')} would be served in the environment "src/app.ts": give -e a value of its own and the app last, e.g. \`tspuma -e production src/app.ts\` (command line). Run \`tspuma --help\` for the options.\n`);
  });

  it('exits 1 naming the address and the holder when the port is in use', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const s = mine.adopt(run(['-b', `tcp://127.0.0.1:${port}`, 'test/fixtures/apps/hello.mjs']));
      expect(await s.exited).toBe(1);
      expect(s.stderr()).toContain(`TSPUMA_ERR_LISTEN_ADDRINUSE: Cannot listen on tcp://127.0.0.1:${port} (-b in command line): the address is already in use`);
      expect(s.stderr()).toContain(`held by pid ${process.pid}`);
      expect(s.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });
});

describe('graceful stop', { concurrent: true }, () => {
  it('lets 50 slow in-flight requests finish after SIGTERM, then exits 0', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const s = mine.adopt(await boot(['-b', LOCAL, 'test/fixtures/slow.mjs']));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get(`${s.url}${path}`, { agent }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
    // Held in the app until the server has begun its stop (a file the test writes), not for 1.5 s.
    const release = join(tempDir('cli'), 'release');
    const pending = Array.from({ length: 50 }, () => get(`/slow?ms=60000&until=${release}`));
    await waitFor(async () => (await get('/inflight')).body === '50', '50 requests in flight');
    s.proc.kill('SIGTERM');
    await waitFor(() => s.lines().some((l) => String(l.msg).startsWith('- Gracefully stopping')) || undefined, 'the stop line');
    writeFileSync(release, '');
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.status === 200 && r.body === 'released\n')).toHaveLength(50);
    expect(await s.exited).toBe(0);
    agent.destroy();
  });

  it('answers 503 to requests still running after forceShutdownAfter, then exits 0', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('cli');
    writeFileSync(join(dir, 'tspuma.config.mjs'), `export default { forceShutdownAfter: 0.5 };\n`);
    const s = mine.adopt(await boot(['-C', join(dir, 'tspuma.config.mjs'), '-b', LOCAL, 'test/fixtures/slow.mjs']));
    const pending = fetch(`${s.url}/slow?ms=20000`);
    await waitFor(async () => (await (await fetch(`${s.url}/inflight`)).text()) === '1', 'the request in flight');
    s.proc.kill('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(503);
    expect(await s.exited).toBe(0);
    expect(s.lines().some((l) => l.code === 'TSPUMA_ERR_FORCED_SHUTDOWN')).toBe(true);
  });
});

describe('an app that listens by itself', { concurrent: true }, () => {
  it('is refused with TSPUMA_ERR_APP_SHAPE saying it called listen() while loading and to export the app instead', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const s = mine.adopt(run(['-b', LOCAL, 'test/fixtures/apps/listening-app.ts']));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(/^tspuma: TSPUMA_ERR_APP_SHAPE: App \S+listening-app\.ts exports no default export \(its exports: none\); it started a server of its own while loading \(app\.listen\(\) or server\.listen\(\)\): export the app instead \(`export default app`\) and leave listening to tspuma \(-b, PORT\)/m);
  });

  it('without a default export and without listening, says to add `export default`', async (ctx) => {
    const mine = ownedByTest(ctx, 'cli');
    const dir = tempDir('noexport');
    writeFileSync(join(dir, 'app.mjs'), 'export const handler = () => new Response("x");\n');
    const s = mine.adopt(run(['-b', LOCAL, join(dir, 'app.mjs')]));
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(/TSPUMA_ERR_APP_SHAPE: App \S+app\.mjs exports no default export \(its exports: handler\); add `export default` for the app/);
  });
});

describe('sub-command help', { concurrent: true }, () => {
  it.each([
    ['ctl', /^usage: tspuma ctl COMMAND .*\n {2}COMMAND: stats, stop, halt, restart, phased-restart, worker-count-up, worker-count-down, gc\n {2}exits 0 when the command was done, 1 when it was not \(gc in a server started without --expose-gc too\)\n$/],
    ['replay', /^usage: tspuma replay DUMP\.json /],
    ['probe', /^usage:\n {2}tspuma probe log FILE:LINE /],
    ['inspect', /^usage: tspuma inspect list\|stack\|profile\|heap /],
    ['doctor', /^usage: tspuma doctor /],
    ['dump', /^usage: tspuma dump \[--all-frames\] FILE\.json\n$/],
  ])('`tspuma %s --help` prints its usage on stdout and exits 0', async (command, usage) => {
    const s = run([command, '--help']);
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(usage);
    expect(s.stderr()).toBe('');
  });
});
