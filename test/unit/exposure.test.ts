// Exposure warnings: which resolved options reach beyond loopback while they can run code, steer
// the server or show its internals, and what each warning names.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { envLayer } from '../../server/cli/args.js';
import { exposureWarnings, loopbackHost, showsErrorDetails, type Started } from '../../server/exposure.js';
import { resolveOptions, type Layer, type Options } from '../../server/options.js';
import { listeningAddressOfFd } from '../../server/port-holder.js';
import { withActivatedBinds } from '../../server/systemd.js';

const cli = (values: Record<string, unknown>, origins: Record<string, string> = {}): Layer => ({ source: 'command line', values, origins, fromString: true });
const ALL: Started = { control: true, inspector: true };

describe('loopbackHost', () => {
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(loopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.0.0.5', '::ffff:10.0.0.5', '128.0.0.1', 'example.com', 'localhost.example.com', '1270.0.0.1'])('%s is not', (host) => {
    expect(loopbackHost(host)).toBe(false);
  });
});

describe('exposureWarnings', () => {
  it('says nothing when every socket is on loopback or a unix socket', () => {
    const o = resolveOptions([cli({ bind: ['tcp://127.0.0.1:0', 'unix:///tmp/tspuma-x.sock'], debug: 'true', controlUrl: 'tcp://127.0.0.1:9293', inspect: 'localhost:9229' })]);
    expect(exposureWarnings(o, ALL)).toEqual([]);
  });

  it('a non-loopback control URL: names --control-url, its value, the token risk and 127.0.0.1', () => {
    const o = resolveOptions([cli({ controlUrl: 'tcp://0.0.0.0:9293' }, { controlUrl: '--control-url' })]);
    const [w, ...rest] = exposureWarnings(o, ALL);
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ option: '--control-url', value: 'tcp://0.0.0.0:9293', source: '--control-url in command line' });
    expect(w!.msg).toBe(
      '--control-url tcp://0.0.0.0:9293 (--control-url in command line) listens on every network interface: anyone who reaches it and sees the token (sent in clear over http) can stop, halt and restart the server and read worker stacks. Bind it to 127.0.0.1 (or a unix:// socket) to silence this.',
    );
    // Single mode starts no control app: nothing to warn about.
    expect(exposureWarnings(o, { control: false, inspector: true })).toEqual([]);
  });

  it('a non-loopback --inspect host: names the address, that it runs code, and the loopback form', () => {
    const o = resolveOptions([cli({ inspect: '0.0.0.0:9300' }, { inspect: '--inspect' })]);
    const [w, ...rest] = exposureWarnings(o, ALL);
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ option: '--inspect', value: '0.0.0.0:9300', source: '--inspect in command line' });
    expect(w!.msg).toContain('puts inspector discovery and every process\'s inspector on every network interface: anyone who reaches them can run code');
    expect(w!.msg).toContain('Use --inspect=127.0.0.1:9300');
    const v6 = resolveOptions([cli({ inspect: '[fd00::1]:9300' })]);
    expect(exposureWarnings(v6, ALL).map((x) => x.value)).toEqual(['[fd00::1]:9300']);
    // No inspector started (the programmatic start()): no warning.
    expect(exposureWarnings(o, { control: true, inspector: false })).toEqual([]);
  });

  it('-d in development on a non-loopback bind: names the binds, the 500 page, and -e production', () => {
    const o = resolveOptions([cli({ debug: 'true', bind: ['tcp://127.0.0.1:0', 'tcp://0.0.0.0:8080'], inspect: 'false' }, { debug: '-d' })]);
    const [w, ...rest] = exposureWarnings(o, ALL);
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ option: '--debug', value: 'environment development', source: '-d in command line' });
    expect(w!.msg).toContain('on tcp://0.0.0.0:8080: every 500 page sends the stack, the arguments and the local values');
    expect(w!.msg).not.toContain('127.0.0.1:0 ');
    expect(w!.msg).toContain('Bind to 127.0.0.1, or run with -e production');
  });

  it('-d in development on a socket systemd passed (fd://3, no host in its URI): warns when it listens beyond loopback, naming its address; quiet on loopback', () => {
    const activated = (o: Options) => withActivatedBinds(o, [{ fd: 3, name: null }]);
    const o = activated(resolveOptions([cli({ debug: 'true', inspect: 'false' }, { debug: '-d' })]));
    const on = (address: string | null) => exposureWarnings(o, ALL, (fd) => (fd === 3 ? address : null));
    const [w, ...rest] = on('0.0.0.0');
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ option: '--debug', value: 'environment development' });
    expect(w!.msg).toContain('on fd://3 (0.0.0.0): every 500 page sends the stack');
    expect(on('::')[0]!.msg).toContain('on fd://3 (::): every 500 page');
    expect(on('127.0.0.1')).toEqual([]);
    expect(on('::ffff:127.0.0.1')).toEqual([]);
    // Not a TCP socket of this process (a unix socket passed): nothing to warn about.
    expect(on(null)).toEqual([]);
  });

  it("listeningAddressOfFd reads a listening socket's own address from /proc (the socket systemd passes has no URI host)", async () => {
    const listener = net.createServer();
    await new Promise<void>((r) => listener.listen({ host: '127.0.0.1', port: 0 }, r));
    try {
      const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
      expect(listeningAddressOfFd(fd)).toBe('127.0.0.1');
      expect(listeningAddressOfFd(1)).toBeNull(); // stdout: not a TCP socket
    } finally {
      listener.close();
    }
  });

  it('-d is quiet in production (no dump in responses) and without -d', () => {
    expect(exposureWarnings(resolveOptions([cli({ debug: 'true', environment: 'production', inspect: 'false' })]), ALL)).toEqual([]);
    // Any name but development and test keeps dumps out of responses: nothing to warn about.
    for (const environment of ['prod', 'staging', 'Production']) {
      expect(exposureWarnings(resolveOptions([cli({ debug: 'true', environment, bind: ['tcp://0.0.0.0:8080'], inspect: 'false' })]), ALL)).toEqual([]);
    }
    expect(exposureWarnings(resolveOptions([cli({ debug: 'true', environment: 'test', bind: ['tcp://0.0.0.0:8080'], inspect: 'false' })]), ALL).map((w) => w.value)).toEqual(['environment test']);
    expect(exposureWarnings(resolveOptions([cli({ bind: ['tcp://0.0.0.0:8080'] })]), ALL)).toEqual([]);
  });

  it('all three at once, in a fixed order', () => {
    const o = resolveOptions([cli({ debug: 'true', bind: ['tcp://10.1.2.3:80'], controlUrl: 'tcp://[::]:9293', inspect: '0.0.0.0:9229' })]);
    expect(exposureWarnings(o, ALL).map((w) => w.option)).toEqual(['--control-url', '--inspect', '--debug']);
  });
});

// test/integration/error-details.test.ts boots the CLI on one environment of each kind (-e prod:
// the generic body; -e test: the development page); the other names and where they come from are
// checked here.
describe('showsErrorDetails', () => {
  it.each(['development', 'test'])('%s: error responses carry the details', (environment) => {
    expect(showsErrorDetails(environment)).toBe(true);
  });

  it.each(['production', 'prod', 'Production', 'staging', 'Development', 'TEST', 'development '])('%s: the generic body (only the exact names show details)', (environment) => {
    expect(showsErrorDetails(environment)).toBe(false);
  });

  it('takes the environment as -e and NODE_ENV give it, unchanged', () => {
    expect(resolveOptions([cli({ environment: 'Production' }, { environment: '-e' })]).environment).toBe('Production');
    const fromEnv = resolveOptions([envLayer({ NODE_ENV: 'staging' })]);
    expect([fromEnv.environment, showsErrorDetails(fromEnv.environment)]).toEqual(['staging', false]);
  });
});
