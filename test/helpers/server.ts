// Starts tspuma in-process on 127.0.0.1:0 with a captured logger, for unit tests.
import { Writable } from 'node:stream';
import { rack } from '../../server/adapters.js';
import type { Logger } from 'pino';
import { createLogger } from '../../server/logger.js';
import type { TspumaConfig } from '../../server/options.js';
import type { Running } from '../../server/single.js';
import { start } from '../../server/start.js';

export interface LogCapture {
  logger: Logger;
  lines: Record<string, unknown>[];
}

export function captureLogger(debug = false): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: debug ? 'debug' : 'info', destination, pretty: false }), lines };
}

export interface TestServer extends LogCapture {
  running: Running;
  port: number;
  url: string;
}

const started: Running[] = [];

export async function startTest(config: TspumaConfig, debug = false): Promise<TestServer> {
  const capture = captureLogger(debug);
  const running = await start({ bind: 'tcp://127.0.0.1:0', ...config }, { logger: capture.logger });
  started.push(running);
  const port = running.listeners[0]!.port!;
  return { ...capture, running, port, url: `http://127.0.0.1:${port}` };
}

/** Stops every server startTest started (call in afterEach). */
export async function stopAll(): Promise<void> {
  const list = started.splice(0);
  await Promise.all(
    list.map((r) => {
      const stopped = r.stop();
      r.server.force(); // tests may leave hung requests behind
      return stopped;
    }),
  );
}

/** A Rack app that records the requests it ran ("METHOD URI"). */
export function recording() {
  const calls: string[] = [];
  const app = rack((env) => {
    calls.push(`${env.REQUEST_METHOD} ${env.REQUEST_URI}`);
    return [200, {}, ['ok']];
  });
  return { app, calls };
}
