// The request line on a terminal: pino-pretty prints one line per request (the message carries
// every field), where the structured `request` object would otherwise take six more.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { rack } from '../../server/adapters.js';
import { createLogger } from '../../server/logger.js';
import type { Running } from '../../server/single.js';
import { start } from '../../server/start.js';
import { waitFor } from '../helpers/net.js';

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

describe('request lines on a TTY', () => {
  it('take one line each, with method, URL, status, time, bytes, remote and id', async () => {
    let out = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const logger = createLogger({ pretty: true, destination });
    const r = await start({ bind: 'tcp://127.0.0.1:0', logRequests: true, app: rack(() => [200, {}, ['hi']]) }, { logger });
    running.push(r);
    const url = `http://127.0.0.1:${r.listeners[0]!.port}`;
    const before = out.split('\n').length;
    for (const id of ['one', 'two']) await (await fetch(`${url}/path?q=1`, { headers: { 'x-request-id': id } })).text();
    await waitFor(() => out.includes(' two'), 'the second request line');
    // eslint-disable-next-line no-control-regex
    const lines = out.replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(before - 1).filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/INFO.*: GET \/path\?q=1 200 [\d.]+ms \d+B 127\.0\.0\.1 one$/);
    expect(lines[1]).toMatch(/ two$/);
  });
});
