// docs/deployment.md's configuration blocks, taken from the doc as a reader copies them, with
// only addresses substituted: the nginx and HAProxy configs are checked by the real tools and
// serve requests to tspuma instances; the systemd units pass `systemd-analyze verify`; the
// Kubernetes manifest's command line is parsed by tspuma's own option parser and its probes and
// stop budget are checked against it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { argsLayer, parseArgs, splitWords } from '../../server/cli/args.js';
import { RECORDS } from '../../server/option-records.js';
import { resolveOptions } from '../../server/options.js';
import { CLI, ROOT, boot, fromLog, hermeticEnv, killAll, unprivileged, type Booted } from '../helpers/cli.js';
import { docBlock, substitute } from '../helpers/doc-blocks.js';
import { get, waitFor } from '../helpers/net.js';
import { lateNotifyReceiver } from '../helpers/notify.js';
import { docNginx, hostRequest, listening, proxyDir, startProxy, stopProxies } from '../helpers/proxies.js';

const DOC = 'docs/deployment.md';
const APP = 'test/fixtures/apps/client-app.mjs';
const FORWARDED_APP = 'test/fixtures/apps/forwarded-app.mjs';
const own: ChildProcess[] = [];
afterEach(async () => {
  for (const c of own.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await stopProxies();
  await killAll();
});
const tempDir = () => proxyDir('doc');

const hostPort = (url: string) => new URL(url).host;
const pidOf = (body: string) => Number(/(\d+)$/.exec(body)?.[1]);
/** Options as tspuma resolves a command line (its flags and checks), without starting anything. */
const optionsOf = (argv: string[]) => resolveOptions([argsLayer(parseArgs(argv, 'the doc'), 'the doc')], { cpus: () => ({ count: 2, how: 'the test' }) });

/** GETs through the proxy until both instances answered 200 (each answer names its pid). */
async function expectBothServe(port: number, instances: Booted[]): Promise<void> {
  const seen = new Set<number>();
  await waitFor(async () => {
    const r = await get(`http://127.0.0.1:${port}/`);
    expect(r.status).toBe(200);
    seen.add(pidOf(r.body));
    return instances.every((i) => seen.has(i.proc.pid!));
  }, 'both instances to answer through the proxy', 5_000);
}

const HAPROXY_HEAD = `global
  log stderr format raw local0 warning
defaults
  timeout connect 2s
  timeout client 10s
  timeout server 10s
`;

/** haproxy -c on the config, with the front's listening socket as fd 3 (`bind fd@3`). */
function haproxyCheck(cfg: string, front: { fd: number }): void {
  const r = spawnSync('/usr/sbin/haproxy', ['-c', '-f', cfg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', front.fd] });
  expect({ status: r.status, output: r.status === 0 ? '' : r.stdout + r.stderr }).toEqual({ status: 0, output: '' });
}

describe('nginx', () => {
  // One pair of instances and one nginx for the block's two promises (a pair and an nginx each cost
  // two boots and a proxy more): the app answers what tspuma told it of the client, and its pid.
  it("the block passes nginx -t and serves both instances of the site it names; it gives the app the client's address and the host and port the client asked for, never a client's own X-Forwarded-Host or -Proto, answers no other Host, and keeps a query's token out of its access log", async () => {
    const instances = await Promise.all([0, 1].map(() => boot([FORWARDED_APP, '-b', 'tcp://127.0.0.1:0', '--trust-proxy', '127.0.0.1'])));
    const { port, dir } = await docNginx(instances.map((i) => hostPort(i.url)));
    const served = new Set<number>();
    await waitFor(async () => {
      const r = await hostRequest(port, `shop.example:${port}`);
      expect(r.status).toBe(200);
      served.add((JSON.parse(r.body) as { pid: number }).pid);
      return instances.every((i) => served.has(i.proc.pid!));
    }, 'both instances to answer through nginx', 5_000);
    const hostile = { 'x-forwarded-host': 'evil.example:8443', 'x-forwarded-proto': 'https', 'x-forwarded-for': '6.6.6.6' };
    for (let i = 0; i < 4; i++) {
      const r = await hostRequest(port, `shop.example:${port}`, hostile);
      expect(r.status).toBe(200);
      const seen = JSON.parse(r.body) as Record<string, unknown>;
      expect({ remote: seen.remote, scheme: seen.scheme, host: seen.host, port: seen.port }).toEqual({ remote: '127.0.0.1', scheme: 'http', host: 'shop.example', port: String(port) });
    }
    // Another Host: the default server closes the connection without an answer (444).
    await expect(hostRequest(port, 'evil.example')).rejects.toThrow(/socket hang up|ECONNRESET/);
    // The site's access log (the block's noquery format) has the path of a request, not its query's token.
    const token = 'AccessTok3nInTheQuery77';
    expect((await hostRequest(port, `shop.example:${port}`, { referer: `https://shop.example/login?access_token=${token}` }, `/orders?access_token=${token}&page=2`)).status).toBe(200);
    const log = await waitFor(() => {
      const text = readFileSync(join(dir, 'shop.access.log'), 'utf8');
      return text.includes('GET /orders') ? text : undefined;
    }, 'the request in the site access log', 5_000);
    expect(log).not.toContain(token);
  });

  it("waits for an answer longer than tspuma's requestTimeout, so that tspuma's 503 and its TSPUMA_ERR_REQUEST_TIMEOUT line (where the request waited) come before nginx's 504 (review19.2)", () => {
    // nginx's proxy_read_timeout is 60 s when the block sets none, requestTimeout's default is 60 s,
    // and tspuma's deadline sweep fires a timeout up to two ticks (1 s each at most) after its value:
    // at equal values nginx answered 504 first every time, and tspuma logged only a client that left.
    const block = docBlock(DOC, '# nginx.conf, http block');
    const set = /^\s*proxy_read_timeout\s+(\d+)s;/m.exec(block);
    const nginxSeconds = set ? Number(set[1]) : 60;
    expect(nginxSeconds).toBeGreaterThan((RECORDS.requestTimeout.default as number) + 2);
  });
});

describe('HAProxy', () => {
  it.each(['# haproxy.cfg: the PROXY protocol', '# haproxy.cfg: out of rotation when /ready turns 503'])("%s: its backend waits for an answer longer than tspuma's requestTimeout, so tspuma's 503 and its TSPUMA_ERR_REQUEST_TIMEOUT line come before HAProxy's 504 (review20.14)", (head) => {
    // A backend without `timeout server` takes the defaults section's: 50 s in the haproxy.cfg
    // Debian and Ubuntu install, under requestTimeout's 60 s, so HAProxy answered 504 first and
    // tspuma saw only a client that left (as nginx at its 60 s default: review19.2).
    const set = /^\s*timeout server\s+(\d+)s\b/m.exec(docBlock(DOC, head));
    expect(set, 'the block sets timeout server').not.toBeNull();
    expect(Number(set![1])).toBeGreaterThan((RECORDS.requestTimeout.default as number) + 2);
  });

  it('the PROXY protocol block passes haproxy -c and reaches a proxy_protocol=v2 bind', async () => {
    const s = await boot([APP, '-b', 'tcp://127.0.0.1:0?proxy_protocol=v2']);
    const dir = tempDir();
    const front = await listening();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, HAPROXY_HEAD + substitute(docBlock(DOC, '# haproxy.cfg: the PROXY protocol'), { 'bind :80': 'bind fd@3', '127.0.0.1:9292': hostPort(s.url) }));
    haproxyCheck(cfg, front);
    const url = `http://127.0.0.1:${front.port}/`;
    // The bind closes any connection that does not start with a PROXY header: a 200 means HAProxy sent one.
    await startProxy('/usr/sbin/haproxy', ['-db', '-f', cfg], [front], {}, () => get(url).then((r) => r.status === 200, () => false));
    expect(pidOf((await get(url)).body)).toBe(s.proc.pid);
  });

  it('the /ready check block passes haproxy -c, serves both instances, and takes one out of rotation within its drainDelay', async () => {
    // Both instances booted at once: the test waits for the slower, not for one after the other.
    const instances: Booted[] = await Promise.all([0, 1].map(() => boot([APP, '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', '--drain-delay', '3'])));
    const health = await Promise.all(instances.map((s) => fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl : undefined), 'the health line')));
    const dir = tempDir();
    const front = await listening();
    const block = substitute(docBlock(DOC, '# haproxy.cfg: out of rotation when /ready turns 503'), {
      '10.0.0.11:9292 check port 9393': `${hostPort(instances[0]!.url)} check port ${new URL(health[0]!).port}`,
      '10.0.0.12:9292 check port 9393': `${hostPort(instances[1]!.url)} check port ${new URL(health[1]!).port}`,
    });
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, `${HAPROXY_HEAD}frontend web\n  mode http\n  bind fd@3\n  default_backend tspuma\n${block}`);
    haproxyCheck(cfg, front);
    const url = `http://127.0.0.1:${front.port}/`;
    await startProxy('/usr/sbin/haproxy', ['-db', '-f', cfg], [front], {}, () => get(url).then((r) => r.status === 200, () => false));
    await expectBothServe(front.port, instances);
    const [leaving, staying] = instances as [Booted, Booted];
    leaving.proc.kill('SIGTERM');
    // Ten answers in a row from the other instance while the leaving one still runs (its drainDelay is 3 s).
    let run = 0;
    await waitFor(async () => {
      run = pidOf((await get(url)).body) === staying.proc.pid ? run + 1 : 0;
      return run >= 10;
    }, 'HAProxy to send everything to the staying instance', 2_500);
    expect(leaving.proc.exitCode).toBe(null);
  });
});

describe('systemd', () => {
  const socket = docBlock(DOC, '# tspuma.socket');
  const service = docBlock(DOC, '# tspuma.service');
  const key = (unit: string, name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
  const execStart = () => splitWords(key(service, 'ExecStart')[0]!);
  /** A project folder standing in for WorkingDirectory: node_modules/.bin/tspuma is the built CLI. */
  const project = () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
    writeFileSync(join(dir, 'node_modules/.bin/tspuma'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, { mode: 0o755 });
    return dir;
  };

  it('the socket and service units pass systemd-analyze verify', () => {
    const dir = tempDir();
    const root = project();
    writeFileSync(join(dir, 'tspuma.socket'), socket);
    writeFileSync(join(dir, 'tspuma.service'), substitute(service, { '/srv/web': root }));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'tspuma.socket'), join(dir, 'tspuma.service')], { encoding: 'utf8' });
    expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: '' });
  });

  it('the service is complete: Type=notify, NotifyAccess=all, Requires its socket, a User, a WorkingDirectory, Restart, KillMode=mixed, node_modules/.bin/tspuma (no npx) with a valid command line, and a stop budget over drainDelay plus workerShutdownTimeout', () => {
    expect([key(service, 'Type'), key(service, 'NotifyAccess'), key(service, 'KillMode')]).toEqual([['notify'], ['all'], ['mixed']]);
    expect(key(service, 'Requires').join(' ').split(/\s+/)).toContain('tspuma.socket');
    expect(key(service, 'After').join(' ').split(/\s+/)).toContain('tspuma.socket');
    for (const k of ['User', 'WorkingDirectory', 'Restart']) expect(key(service, k), k).toEqual([expect.stringMatching(/\S/)]);
    const exec = execStart();
    expect(exec[0]).toBe(`${key(service, 'WorkingDirectory')[0]}/node_modules/.bin/tspuma`);
    const o = optionsOf(exec.slice(1));
    expect(o.healthUrl?.uri).toMatch(/^tcp:\/\//);
    expect(o.drainDelay).toBeGreaterThan(0);
    expect(Number(key(service, 'TimeoutStopSec')[0])).toBeGreaterThan(o.drainDelay + o.workerShutdownTimeout);
    // One stream socket, host:port or a path: what tspuma adopts as fd 3.
    expect(key(socket, 'ListenStream')).toEqual([expect.stringMatching(/^[\d.]+:\d+$|^\//)]);
  });

  it("agrees with the HAProxy block: HAProxy's first server is the socket's address, and its check port is the service's healthUrl on that host", () => {
    const haproxy = docBlock(DOC, '# haproxy.cfg: out of rotation when /ready turns 503');
    const [, served, checkPort] = /^\s*server \S+ (\S+) check port (\d+)/m.exec(haproxy)!;
    expect(key(socket, 'ListenStream')).toEqual([served]);
    const health = new URL(optionsOf(execStart().slice(1)).healthUrl!.uri);
    expect(`${health.hostname}:${health.port}`).toBe(`${new URL(`tcp://${served}`).hostname}:${checkPort}`);
  });

  it('run as systemd runs it (socket activation, User= without privileges, NOTIFY_SOCKET, KillMode=mixed: SIGTERM to the main process only): READY=1 reaches a late reader, the workers are never reported dead, exit 0', async () => {
    const root = project();
    chmodSync(root, 0o777);
    const sock = join(root, 'web.sock');
    const notify = join(root, 'notify.sock');
    const rx = lateNotifyReceiver(notify, 300);
    own.push(rx.proc);
    await rx.ready;
    const exec = substitute(execStart().join(' '), { '/srv/web': root, '-w 4': '-w 2', '--drain-delay 5': '--drain-delay 1', 'tcp://10.0.0.11:9393': 'tcp://127.0.0.1:0', 'app.ts': join(ROOT, 'test/fixtures/environ-app.mjs') }).split(' ');
    const proc = spawn('systemd-socket-activate', ['-l', sock, `--setenv=NOTIFY_SOCKET=${notify}`, ...unprivileged(exec)], { cwd: root, env: hermeticEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    own.push(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    // Listening, not only there: systemd-socket-activate binds (the path appears) before it listens,
    // and a connection in between is refused (ECONNREFUSED under load; on demand with its listen()
    // delayed 0.4 s by strace -e inject=listen:delay_enter=400000).
    const first = await waitFor(() => get('http://localhost/', sock).catch((err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? undefined : Promise.reject(err))), 'the activation socket to listen');
    expect(first.status).toBe(200);
    await waitFor(() => rx.messages().some((m) => m.lines.includes('READY=1')), 'READY=1', 15_000);
    proc.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    expect(out).not.toMatch(/died/);
    expect(out).toMatch(/Goodbye/);
    expect(rx.messages().filter((m) => !m.lines.includes('BARRIER=1')).every((m) => m.alive)).toBe(true);
  });
});

describe('Kubernetes', () => {
  const manifest = docBlock(DOC, '# Kubernetes:');
  /** The lines under `name:` (more indented than it), as text. */
  const section = (name: string) => {
    const lines = manifest.split('\n');
    const at = lines.findIndex((l) => l.trimStart().startsWith(`${name}:`));
    expect(at, `${name} in the manifest`).toBeGreaterThan(-1);
    const indent = lines[at]!.search(/\S/);
    const end = lines.findIndex((l, i) => i > at && l.trim() !== '' && l.search(/\S/) <= indent);
    return { indent, text: lines.slice(at, end === -1 ? undefined : end).join('\n') };
  };
  const command = () => JSON.parse(section('command').text.replace(/^\s*command:/, '').replace(/\s+/g, ' ')) as string[];
  const tspumaArgs = () => command().slice(2);

  it('runs node itself on the package\'s bin (no npx: npm and its shell would take the SIGTERM), a valid tspuma command line with a healthUrl other hosts can reach', () => {
    expect(manifest).toMatch(/^apiVersion: apps\/v1\nkind: Deployment$/m);
    const [node, cli] = command();
    expect(node).toBe('node');
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.tspuma;
    expect(cli).toBe(`node_modules/tspuma/${bin}`);
    const o = optionsOf(tspumaArgs());
    expect(o.healthUrl?.uri).toMatch(/^tcp:\/\/0\.0\.0\.0:\d+$/);
    expect(o.drainDelay).toBeGreaterThan(0);
  });

  it('sets a CPU limit when it uses -w auto (without one, auto means every CPU of the node)', () => {
    const argv = tspumaArgs();
    expect(argv.join(' ')).toContain('-w auto');
    expect(section('resources').text).toMatch(/limits: \{ cpu: "\d+m?" \}/);
  });

  it('probes /ready and /health on the healthUrl port, the readiness probe fails within drainDelay, and terminationGracePeriodSeconds (pod spec) exceeds drainDelay plus workerShutdownTimeout', () => {
    const o = optionsOf(tspumaArgs());
    const port = Number(new URL(o.healthUrl!.uri).port);
    const readiness = section('readinessProbe').text;
    expect(readiness).toContain(`httpGet: { path: /ready, port: ${port} }`);
    expect(section('livenessProbe').text).toContain(`httpGet: { path: /health, port: ${port} }`);
    const every = Number(/periodSeconds: (\d+)/.exec(readiness)![1]);
    const fails = Number(/failureThreshold: (\d+)/.exec(readiness)![1]);
    expect(every * fails).toBeLessThan(o.drainDelay);
    const grace = section('terminationGracePeriodSeconds');
    // A pod spec field: a sibling of containers, not inside a container.
    expect(grace.indent).toBe(section('containers').indent);
    expect(Number(/terminationGracePeriodSeconds: (\d+)/.exec(grace.text)![1])).toBeGreaterThan(o.drainDelay + RECORDS.workerShutdownTimeout.default);
    expect(manifest).not.toContain('preStop');
  });

  it('the command as PID 1 of a pid namespace (a pod), as a user without privileges: SIGTERM turns /ready 503, a request in flight gets its answer, exit 0', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT.replace(/\/$/, ''), join(dir, 'node_modules/tspuma'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(dir, 'app.ts'), "export default (req: { url?: string }, res: { end(b: string): void }): void => { setTimeout(() => res.end(`done ${req.url}`), req.url === '/slow' ? 1500 : 0); };\n");
    const argv = command().map((a) => (a === 'tcp://0.0.0.0:9292' || a === 'tcp://0.0.0.0:9393' ? 'tcp://127.0.0.1:0' : a));
    argv[argv.indexOf('--drain-delay') + 1] = '1';
    const proc = spawn('unshare', ['--pid', '--fork', '--kill-child', ...unprivileged(argv)], { cwd: dir, env: hermeticEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    own.push(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const json = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = await waitFor(() => json().find((l) => l.msg === 'Use Ctrl-C to stop'), 'the boot line', 30_000);
    const health = String(json().find((l) => typeof l.healthUrl === 'string')!.healthUrl).replace(/^tcp:/, 'http:');
    const app = (ready.urls as string[])[0]!;
    // The pod's PID 1: unshare's only child.
    const pid1 = Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim());
    expect(readFileSync(`/proc/${pid1}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    await waitFor(async () => (await get(`${health}/ready`)).status === 200, '/ready 200');
    const slow = get(`${app}/slow`);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid1, 'SIGTERM');
    await waitFor(async () => (await get(`${health}/ready`).catch(() => ({ status: 0 }))).status === 503, '/ready 503 after SIGTERM', 1_000);
    expect(await slow).toEqual({ status: 200, body: 'done /slow' });
    expect(await exited, out).toBe(0);
  });
});
