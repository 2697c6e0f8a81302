// Real proxies (nginx, HAProxy) as a test's own children: the test binds the client-facing
// listening sockets itself on 127.0.0.1:0 and hands them to a proxy running in the foreground as
// inherited fds 3, 4, ...; the proxy is stopped by pid afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';
import { docBlock, substitute } from './doc-blocks.js';
import { SLOWNESS, waitFor } from './net.js';
import { tempDir } from './temp.js';

/** A listening socket on 127.0.0.1:0, bound here; its fd is what a proxy inherits. */
export async function listening(): Promise<{ server: net.Server; port: number; fd: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return { server, port: (server.address() as net.AddressInfo).port, fd };
}

const children: ChildProcess[] = [];
/** A temp dir for a proxy's config, pid file, logs and sockets (test/helpers/temp.ts: removed after the test file). */
export function proxyDir(prefix: string): string {
  return tempDir(prefix);
}

function readLog(path: string | undefined): string {
  if (!path) return '';
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts a proxy in the foreground with the listening sockets as fds 3, 4, ... and waits until
 * `answering` says it serves; fails with its output (and `errorLog`) if it exits first.
 */
export async function startProxy(
  cmd: string,
  args: string[],
  fronts: { server: net.Server; fd: number }[],
  env: Record<string, string>,
  answering: () => Promise<boolean>,
  errorLog?: string,
): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', ...fronts.map((f) => f.fd)], env: { ...process.env, ...env } });
  children.push(proc);
  // The child holds its own copies of the sockets: only it accepts from now on.
  for (const f of fronts) f.server.close();
  let output = '';
  proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  let exited: number | null = null;
  proc.on('exit', (code) => (exited = code ?? -1));
  await waitFor(
    async () => {
      if (exited !== null) throw new Error(`${cmd} exited ${exited}: ${output}\n${readLog(errorLog)}`);
      return answering();
    },
    `${cmd} answering`,
    15_000,
    50,
  );
  return { proc, output: () => output };
}

/** Stops every proxy started here: SIGTERM (nginx's master stops its worker first), SIGKILL after 10 s. */
export async function stopProxies(): Promise<void> {
  const running = children.splice(0).filter((p) => p.exitCode === null && p.signalCode === null && p.pid);
  const stopped = running.map((p) => new Promise<void>((resolve) => p.once('exit', () => resolve())));
  for (const p of running) process.kill(p.pid!, 'SIGTERM');
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, 10_000 * SLOWNESS).unref());
  await Promise.race([Promise.all(stopped), deadline]);
  // One still running is killed, and waited for: its folder (config, pid file, logs) goes at the file's end.
  for (const p of running) if (p.exitCode === null && p.signalCode === null) process.kill(p.pid!, 'SIGKILL');
  await Promise.all(stopped);
}

/** docs/deployment.md's nginx block, its addresses substituted (HOST:PORT of two instances), checked by nginx -t and started; the site answers Host shop.example:PORT. */
export async function docNginx(instances: string[]): Promise<{ port: number; dir: string }> {
  const dir = proxyDir('nginx');
  const front = await listening();
  const block = substitute(docBlock('docs/deployment.md', '# nginx.conf, http block'), {
    '127.0.0.1:9292': instances[0]!,
    '127.0.0.1:9293': instances[1]!,
    'listen 80': `listen 127.0.0.1:${front.port}`,
    // The site's own log, and the harness's upstreams log beside it (a server's access_log replaces the http block's).
    'access_log /var/log/nginx/shop.access.log': `access_log ${dir}/access.log upstreams;\n  access_log ${dir}/shop.access.log`,
  });
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 256; }\nhttp {\n  log_format upstreams '$msec $request_method $request_uri $status upstream=$upstream_addr statuses=$upstream_status';\n  access_log ${dir}/access.log upstreams;\n${temp}\n${block}}\n`,
  );
  const args = ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`];
  const t = spawnSync('/usr/sbin/nginx', ['-t', ...args], { encoding: 'utf8' });
  expect({ status: t.status, output: t.status === 0 ? '' : t.stderr }).toEqual({ status: 0, output: '' });
  const host = `shop.example:${front.port}`;
  await startProxy('/usr/sbin/nginx', args, [front], { NGINX: '3;' }, () => hostRequest(front.port, host).then((r) => r.status === 200, () => false), `${dir}/error.log`);
  return { port: front.port, dir };
}

/** GET PATH (/ by default) through 127.0.0.1:PORT with this Host (and more headers); no answer within 5 s (scaled by the load) is an error. */
export function hostRequest(port: number, host: string, headers: Record<string, string> = {}, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 * SLOWNESS, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

