// The no-regression guards of bench/cpu-per-request.ts (issue 27): a streamed Rack body, a
// server-sent event stream that ends, and a 1 MB upload read to its end. `/` is the hello world,
// so the bench's readiness check passes.
import type { Readable } from 'node:stream';
import { rack } from 'tspuma';

const chunk = 'x'.repeat(4096);
const event = `data: ${'y'.repeat(200)}\n\n`;

async function* chunks(count: number, value: string): AsyncGenerator<string> {
  for (let i = 0; i < count; i++) yield value;
}

async function drain(input: Readable): Promise<number> {
  let n = 0;
  for await (const c of input) n += (c as Buffer).length;
  return n;
}

export default rack(async (env) => {
  switch (env.PATH_INFO) {
    case '/stream':
      return [200, { 'content-type': 'application/octet-stream' }, chunks(16, chunk)];
    case '/sse':
      return [200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }, chunks(50, event)];
    case '/upload':
      return [200, { 'content-type': 'text/plain' }, [`${await drain(env['rack.input']!)}\n`]];
    default:
      return [200, { 'content-type': 'text/html' }, ['Hello World\n']];
  }
});
