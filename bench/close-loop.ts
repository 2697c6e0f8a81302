// Used by bench/http.ts for the "close" shape: `connections` loops, each opening a new TCP
// connection per request (Connection: close), as `ab -c N` without -k does; req/s and latency.
import net from 'node:net';

export interface CloseLoopResult {
  reqPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

function once(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), 10_000);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(REQUEST));
    socket.on('data', (c: Buffer) => {
      if (head.length < 16) head += c.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      resolve(!hadError && head.startsWith('HTTP/1.1 200'));
    });
    socket.on('end', () => socket.end());
  });
}

/** Closed loop for `seconds`; latency in whole milliseconds, as autocannon reports it. */
export async function closeLoop(port: number, connections: number, seconds: number): Promise<CloseLoopResult> {
  const end = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      if (await once(port)) latencies.push(performance.now() - t);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0);
  return { reqPerSec: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors };
}
