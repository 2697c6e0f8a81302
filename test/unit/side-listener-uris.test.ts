// Unit: the URIs of tspuma's own listeners (--health-url, --control-url) are checked when the
// options are resolved, and their errors say which listener, where the URI came from, and only the
// schemes and parameters that listener takes; a listen error on one names it too (N30).
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, listenError } from '../../server/binder.js';
import { argsLayer, parseArgs } from '../../server/cli/args.js';
import { TspumaError } from '../../server/errors.js';
import { startHealth } from '../../server/health.js';
import { resolveOptions } from '../../server/options.js';
import { createSideServer, SIDE_LIMITS } from '../../server/side-listener.js';

const fromCommandLine = (argv: string[]) => resolveOptions([argsLayer(parseArgs(argv, 'command line'), 'command line')], { cpus: () => ({ count: 2, how: 'the test' }) });

function refusal(argv: string[]): TspumaError {
  try {
    fromCommandLine(argv);
  } catch (err) {
    if (err instanceof TspumaError) return err;
    throw err;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

const silent = pino({ level: 'silent' });
const held: net.Server[] = [];
afterEach(() => {
  for (const s of held.splice(0)) s.close();
});

async function heldPort(): Promise<number> {
  const s = net.createServer();
  held.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

describe('--health-url and --control-url: URI errors', () => {
  it('a port out of range: the listener and the flag named, and only tcp:// and unix:// offered', () => {
    const health = refusal(['--health-url', 'tcp://127.0.0.1:99999', 'app.ts']);
    expect(health.code).toBe('TSPUMA_ERR_BIND_URI');
    expect(health.message).toBe("The health checks' URI `tcp://127.0.0.1:99999` (--health-url in command line) is invalid: port 99999 must be an integer from 0 to 65535. Expected tcp://HOST:PORT or unix://PATH.");
    const control = refusal(['--control-url', 'tcp://127.0.0.1:99999', 'app.ts']);
    expect(control.message).toBe("The control app's URI `tcp://127.0.0.1:99999` (--control-url in command line) is invalid: port 99999 must be an integer from 0 to 65535. Expected tcp://HOST:PORT or unix://PATH.");
  });

  it('ssl:// or no scheme: refused by the listener\'s own URI check (review7.3), naming the listener and what it takes', () => {
    const tls = refusal(['--health-url', 'ssl://127.0.0.1:9000?cert=c.pem&key=k.pem', 'app.ts']);
    expect(tls.code).toBe('TSPUMA_ERR_BIND_URI');
    expect(tls.message).toBe("The health checks' URI `ssl://127.0.0.1:9000?cert=c.pem&key=k.pem` (--health-url in command line) is invalid: ssl:// is not served here: only the app's binds serve TLS. Expected tcp://HOST:PORT or unix://PATH.");
    const bare = refusal(['--control-url', '127.0.0.1:9293', 'app.ts']);
    expect(bare.code).toBe('TSPUMA_ERR_BIND_URI');
    expect(bare.message).toBe("The control app's URI `127.0.0.1:9293` (--control-url in command line) is invalid: it has no scheme://. Did you mean `tcp://127.0.0.1:9293`? Expected tcp://HOST:PORT or unix://PATH.");
  });

  it('?backlog=0: said of the health checks\' URI and its flag', () => {
    const err = refusal(['--health-url', 'tcp://127.0.0.1:0?backlog=0', 'app.ts']);
    expect(err.code).toBe('TSPUMA_ERR_BIND_BACKLOG');
    expect(err.message).toBe("backlog=\"0\" in the health checks' URI `tcp://127.0.0.1:0?backlog=0` (--health-url in command line) must be an integer from 1 to 65535.");
  });

  it('a bind parameter these listeners would ignore (proxy_protocol, low_latency) is refused, naming the ones they take', () => {
    expect(refusal(['--health-url', 'tcp://127.0.0.1:0?proxy_protocol=v1', 'app.ts']).message).toContain('unknown parameter proxy_protocol for tcp:// (known: backlog)');
    expect(refusal(['--control-url', 'unix:///tmp/c.sock?low_latency=true', 'app.ts']).message).toContain('unknown parameter low_latency for unix:// (known: backlog, mode)');
  });

  it('an app bind keeps its own words and every scheme', () => {
    const err = refusal(['-b', 'tcp://127.0.0.1:99999', 'app.ts']);
    expect(err.message).toBe('Bind `tcp://127.0.0.1:99999` (-b in command line) is invalid: port 99999 must be an integer from 0 to 65535. Expected tcp://HOST:PORT, unix://PATH or ssl://HOST:PORT?cert=FILE&key=FILE.');
  });
});

describe('--health-url and --control-url: a port in use', () => {
  it('health checks: "Cannot listen for health checks on URI (--health-url in command line)"', async () => {
    const port = await heldPort();
    const o = fromCommandLine(['--health-url', `tcp://127.0.0.1:${port}`, 'app.ts']);
    const err = await startHealth(o.healthUrl!, { readiness: () => ({ status: 'ready' }) }, silent).then(
      () => { throw new Error('listened'); },
      (e: TspumaError) => e,
    );
    expect(err.code).toBe('TSPUMA_ERR_LISTEN_ADDRINUSE');
    expect(err.message).toMatch(new RegExp(`^Cannot listen for health checks on tcp://127\\.0\\.0\\.1:${port} \\(--health-url in command line\\): the address is already in use \\(EADDRINUSE\\)\\. `));
    // (The hint names the holder when /proc's scan finds it within its bound: cli.test checks that.)
  });

  it('the control app: "Cannot listen for the control app on URI (--control-url in command line)"', async () => {
    const port = await heldPort();
    const o = fromCommandLine(['--control-url', `tcp://127.0.0.1:${port}`, 'app.ts']);
    const server = createSideServer('control app', SIDE_LIMITS.control, silent, () => undefined);
    const err = await listen(o.controlUrl!, server, silent).then(
      () => { throw new Error('listened'); },
      (e: TspumaError) => e,
    );
    expect(err.message).toContain(`Cannot listen for the control app on tcp://127.0.0.1:${port} (--control-url in command line): the address is already in use (EADDRINUSE).`);
  });

  it('an app bind: "Cannot listen on URI (-b in command line)"; other OS errors name the listener too', async () => {
    const port = await heldPort();
    const o = fromCommandLine(['-b', `tcp://127.0.0.1:${port}`, '--control-url', 'unix:///nonexistent-dir/c.sock', 'app.ts']);
    expect(listenError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), o.bind[0]!).message).toContain(`Cannot listen on tcp://127.0.0.1:${port} (-b in command line): the address is already in use`);
    expect(listenError(Object.assign(new Error('listen ENOENT'), { code: 'ENOENT' }), o.controlUrl!).message).toBe('Cannot listen for the control app on unix:///nonexistent-dir/c.sock (--control-url in command line): the directory /nonexistent-dir does not exist (ENOENT).');
  });
});

describe('--health-url and --control-url: a unix socket path', () => {
  it('a unix socket in a folder that does not exist: the real listen (libuv reports EACCES for it) says the folder is missing, not a permission to check', async () => {
    const o = fromCommandLine(['--health-url', 'unix:///nonexistent-tspuma-dir/h.sock', 'app.ts']);
    const err = await startHealth(o.healthUrl!, { readiness: () => ({ status: 'ready' }) }, silent).then(
      () => { throw new Error('listened'); },
      (e: TspumaError) => e,
    );
    expect(err.code).toBe('TSPUMA_ERR_LISTEN_UNIX_PATH');
    expect(err.message).toBe('Cannot listen for health checks on unix:///nonexistent-tspuma-dir/h.sock (--health-url in command line): the directory /nonexistent-tspuma-dir does not exist.');
  });
});
