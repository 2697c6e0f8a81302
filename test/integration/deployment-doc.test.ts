// docs/deployment.md's configuration blocks, taken from the doc as a reader copies them, with
// only addresses substituted: the nginx and HAProxy configs are checked by the real tools and
// serve requests to tspuma instances; the systemd units pass `systemd-analyze verify`; the
// Kubernetes manifest's command line is parsed by tspuma's own option parser and its probes and
// stop budget are checked against it.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { argsLayer, parseArgs, splitWords } from '../../server/cli/args.js';
import { RECORDS } from '../../server/option-records.js';
import { resolveOptions } from '../../server/options.js';
import { boot, fromLog, killAll, type Booted } from '../helpers/cli.js';
import { docBlock, substitute } from '../helpers/doc-blocks.js';
import { get, waitFor } from '../helpers/net.js';
import { listening, proxyDir, startProxy, stopProxies } from '../helpers/proxies.js';

const DOC = 'docs/deployment.md';
const APP = 'test/fixtures/apps/client-app.ts';
afterEach(async () => {
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
  it('the upstream and location block passes nginx -t and serves both instances', async () => {
    const instances = [await boot([APP, '-b', 'tcp://127.0.0.1:0']), await boot([APP, '-b', 'tcp://127.0.0.1:0'])];
    const dir = tempDir();
    const front = await listening();
    const block = substitute(docBlock(DOC, '# nginx.conf, http block'), {
      '127.0.0.1:9292': hostPort(instances[0]!.url),
      '127.0.0.1:9293': hostPort(instances[1]!.url),
      'listen 80;': `listen 127.0.0.1:${front.port};`,
    });
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 64; }\nhttp {\n  access_log ${dir}/access.log;\n${temp}\n${block}}\n`,
    );
    const args = ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`];
    const t = spawnSync('/usr/sbin/nginx', ['-t', ...args], { encoding: 'utf8' });
    expect({ status: t.status, output: t.status === 0 ? '' : t.stderr }).toEqual({ status: 0, output: '' });
    const url = `http://127.0.0.1:${front.port}/`;
    await startProxy('/usr/sbin/nginx', args, [front], { NGINX: '3;' }, () => get(url).then((r) => r.status === 200, () => false), `${dir}/error.log`);
    await expectBothServe(front.port, instances);
  });
});

describe('HAProxy', () => {
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
    const instances: Booted[] = [];
    const health: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await boot([APP, '-b', 'tcp://127.0.0.1:0', '--health-url', 'tcp://127.0.0.1:0', '--drain-delay', '3']);
      instances.push(s);
      health.push(await fromLog(s, (l) => (typeof l.healthUrl === 'string' ? l.healthUrl : undefined), 'the health line'));
    }
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

  it('the socket and service units pass systemd-analyze verify', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'tspuma.socket'), socket);
    writeFileSync(join(dir, 'tspuma.service'), service);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'tspuma.socket'), join(dir, 'tspuma.service')], { encoding: 'utf8' });
    expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: '' });
  });

  it('the service is Type=notify with NotifyAccess=all, its ExecStart is a valid tspuma command line, and its stop budget covers drainDelay plus workerShutdownTimeout', () => {
    expect([key(service, 'Type'), key(service, 'NotifyAccess')]).toEqual([['notify'], ['all']]);
    const exec = splitWords(key(service, 'ExecStart')[0]!);
    const argv = exec.slice(exec.indexOf('tspuma') + 1);
    expect(exec.indexOf('tspuma')).toBeGreaterThan(-1);
    const o = optionsOf(argv);
    expect(o.healthUrl).toMatch(/^tcp:\/\//);
    expect(o.drainDelay).toBeGreaterThan(0);
    expect(Number(key(service, 'TimeoutStopSec')[0])).toBeGreaterThan(o.drainDelay + o.workerShutdownTimeout);
    // One stream socket, host:port or a path: what tspuma adopts as fd 3.
    expect(key(socket, 'ListenStream')).toEqual([expect.stringMatching(/^[\d.]+:\d+$|^\//)]);
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

  it('is a Deployment whose command is a valid tspuma command line with a healthUrl other hosts can reach', () => {
    expect(manifest).toMatch(/^apiVersion: apps\/v1\nkind: Deployment$/m);
    const argv = command();
    const o = optionsOf(argv.slice(argv.indexOf('tspuma') + 1));
    expect(o.healthUrl).toMatch(/^tcp:\/\/0\.0\.0\.0:\d+$/);
    expect(o.drainDelay).toBeGreaterThan(0);
  });

  it('probes /ready and /health on the healthUrl port, the readiness probe fails within drainDelay, and terminationGracePeriodSeconds (pod spec) exceeds drainDelay plus workerShutdownTimeout', () => {
    const argv = command();
    const o = optionsOf(argv.slice(argv.indexOf('tspuma') + 1));
    const port = Number(new URL(o.healthUrl!).port);
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
});
