// wrk, the C load generator, for the benchmark's keep-alive bursts (bench/http.ts): a Node client
// (autocannon) saturates before a fast server does and hides the server's own cost. wrk is a
// Debian package; without it the bench falls back to autocannon and says so.
import { execFile, execFileSync } from 'node:child_process';

/** Whether `wrk` runs here. */
export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch (err) {
    // wrk --version prints its version and exits 1.
    return (err as { status?: number }).status === 1;
  }
}

export interface WrkResult {
  requests: number;
  reqPerSec: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Socket errors and non-2xx/3xx responses. */
  errors: number;
}

/** `wrk -t1 -cN -dS --latency` against http://127.0.0.1:PORT/, parsed. */
export function wrk(port: number, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { timeout: (seconds + 30) * 1000 }, (err, stdout) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stdout}`));
      const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
      const reqPerSec = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
      const ms = (label: string) => {
        const m = new RegExp(`^\\s+${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(stdout);
        if (!m) return NaN;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
      const errors = non2xx + (socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
      if (!Number.isFinite(requests) || !Number.isFinite(reqPerSec)) return reject(new Error(`wrk output not understood:\n${stdout}`));
      resolve({ requests, reqPerSec, p50: Math.round(ms('50') * 100) / 100, p99: Math.round(ms('99') * 100) / 100, errors });
    });
  });
}
