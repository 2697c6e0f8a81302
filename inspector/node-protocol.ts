// Node's /json/protocol when no process of the server has an inspector port to ask (the single
// process, or the primary before a worker reports): read once from a short-lived node of the same
// binary that opens an inspector on a kernel-chosen loopback port, prints nothing of Node's own,
// and exits when asked or after a few seconds.

const CHILD = `const i = require('node:inspector'); i.open(0, '127.0.0.1', false); process.stdout.write(i.url() + '\\n'); setTimeout(() => process.exit(0), 10000).unref(); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;

/** The protocol description of this node binary, or a rejection saying why it could not be read. */
export async function readNodeProtocol(timeoutMs = 5000): Promise<Buffer> {
  // Loaded here, not with the discovery thread: most threads are never asked for the protocol.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--inspect-publish-uid=http', '-e', CHILD], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH ?? '' } });
  try {
    const ws = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no inspector address within ${timeoutMs} ms`)), timeoutMs);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const line = /^(ws:\/\/\S+)\n/.exec(out)?.[1];
        if (line) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the helper node exited with code ${code} before opening its inspector`));
      });
    });
    const res = await fetch(`http://${new URL(ws).host}/json/protocol`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`the helper node's inspector answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  } finally {
    child.stdin.end();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
