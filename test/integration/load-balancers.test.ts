// Two tspuma instances behind a real nginx (X-Forwarded-For, trustProxy) and a real HAProxy
// (PROXY protocol v1 and v2): the app sees the real client, which connects from 127.0.0.2 while
// the proxies reach tspuma from 127.0.0.1. Each proxy runs as this test's child in the
// foreground, its config, pid file and logs in a temp dir, on listening sockets the test bound
// itself (port 0) and hands over as inherited fds; it is stopped by pid afterwards. nginx runs
// with its master process: nginx 1.22 with `master_process off` crashes (SIGSEGV) on inherited
// sockets.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, killAll, type Booted } from '../helpers/cli.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { listening, startProxy, stopProxies } from '../helpers/proxies.js';
import { tempDir } from '../helpers/temp.js';

const APP = 'test/fixtures/apps/client-app.mjs';
const CLIENT = '127.0.0.2';
const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';

/** GET / from CLIENT (a loopback address other than the proxies' 127.0.0.1), on a new connection. */
function getFrom(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', localAddress: CLIENT, agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
  });
}

const portOf = (url: string) => Number(new URL(url).port);
const instances: Booted[] = [];

/** Starts a proxy on the given fronts; it is up once `probePort` answers a GET with 200. */
function startAt(cmd: string, args: string[], fronts: { server: net.Server; fd: number }[], env: Record<string, string>, dir: string, probePort: number) {
  return startProxy(cmd, args, fronts, env, () => getFrom(probePort).then((r) => r.status === 200, () => false), join(dir, 'error.log'));
}

/** Four requests through the proxy: each answer names CLIENT, and both instances served (each answer names its pid). */
async function expectClientSeenByBoth(port: number): Promise<void> {
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await getFrom(port));
  for (const r of replies) expect(r).toMatchObject({ status: 200, body: expect.stringMatching(/^127\.0\.0\.2 \d+$/) });
  expect(new Set(replies.map((r) => r.body.split(' ')[1]))).toEqual(new Set(instances.map((i) => String(i.proc.pid))));
}

beforeAll(async () => {
  // Two instances, each with a plain bind (behind nginx) and a PROXY v1 and v2 bind (behind HAProxy).
  for (let i = 0; i < 2; i++) {
    instances.push(
      await boot([
        APP,
        '-b', 'tcp://127.0.0.1:0',
        '-b', 'tcp://127.0.0.1:0?proxy_protocol=v1',
        '-b', 'tcp://127.0.0.1:0?proxy_protocol=v2',
        '--trust-proxy', '127.0.0.1',
      ]),
    );
  }
}, 60_000 * SLOWNESS);

afterAll(async () => {
  await stopProxies();
  // The instances end (killAll waits for them) before the proxies' folders go (test/helpers/temp.ts).
  await killAll();
});

describe('behind nginx', () => {
  let port = 0;
  beforeAll(async () => {
    expect(spawnSync(NGINX, ['-v']).status, 'nginx is installed (.ci/run installs it)').toBe(0);
    const dir = tempDir('nginx');
    const front = await listening();
    port = front.port;
    const upstreams = instances.map((i) => `    server 127.0.0.1:${portOf(i.urls[0]!)};`).join('\n');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream tspuma {
${upstreams}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tspuma;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Host $host;
    }
  }
}
`,
    );
    await startAt(NGINX, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], [front], { NGINX: '3;' }, dir, port);
  }, 30_000 * SLOWNESS);

  it('the app sees the real client address, from either instance', async () => {
    await expectClientSeenByBoth(port);
  });

  it('a client-written X-Forwarded-For ahead of nginx\'s entry is ignored', async () => {
    const r = await getFrom(port, { 'X-Forwarded-For': '6.6.6.6' });
    expect(r.body).toMatch(/^127\.0\.0\.2 /);
  });

  it('a spoofed X-Forwarded-For from a peer that is not trusted is ignored', async () => {
    const r = await getFrom(portOf(instances[0]!.urls[0]!), { 'X-Forwarded-For': '6.6.6.6' });
    expect(r.body).toMatch(/^127\.0\.0\.2 /);
  });
});

describe('behind HAProxy', () => {
  let v1 = 0;
  let v2 = 0;
  beforeAll(async () => {
    expect(spawnSync(HAPROXY, ['-v']).status, 'haproxy is installed (.ci/run installs it)').toBe(0);
    const dir = tempDir('haproxy');
    const one = await listening();
    const two = await listening();
    v1 = one.port;
    v2 = two.port;
    const servers = (bind: number, send: string) => instances.map((inst, i) => `  server t${i} 127.0.0.1:${portOf(inst.urls[bind]!)} ${send}`).join('\n');
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global
  log stderr format raw local0 warning
defaults
  mode http
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend v1
  bind fd@3
  default_backend v1
frontend v2
  bind fd@4
  default_backend v2
backend v1
  balance roundrobin
${servers(1, 'send-proxy')}
backend v2
  balance roundrobin
${servers(2, 'send-proxy-v2')}
`,
    );
    await startAt(HAPROXY, ['-db', '-f', `${dir}/haproxy.cfg`, '-p', `${dir}/haproxy.pid`], [one, two], {}, dir, v1);
  }, 30_000 * SLOWNESS);

  it('send-proxy (v1): the app sees the real client address, from either instance', async () => {
    await expectClientSeenByBoth(v1);
  });

  it('send-proxy-v2: the app sees the real client address, from either instance', async () => {
    await expectClientSeenByBoth(v2);
  });

  it('a client reaching a PROXY-protocol bind directly is closed before the app, and logged', async () => {
    const direct = getFrom(portOf(instances[0]!.urls[1]!));
    await expect(direct).rejects.toThrow(/socket hang up|ECONNRESET/);
    await waitFor(() => instances[0]!.lines().find((l) => l.code === 'TSPUMA_ERR_PROXY_PROTOCOL' && l.remote === CLIENT), 'the coded warning');
  });
});
