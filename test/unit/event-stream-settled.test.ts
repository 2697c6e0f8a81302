// An event stream (a `text/event-stream` head) gives up its invocation slot and leaves debug
// mode's capture at its head (request-lifecycle.ts streaming()), but its end is still settled with
// the diagnostics hook, as every other response's is: an error its work logs after the head (Hono's
// streamSSE console.errors a failing callback, then closes the stream normally) is dumped then
// (diagnostics/index.ts explainAfterResponse). A recording stand-in for the hook, no inspector.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { adapt } from '../../server/adapters.js';
import type { DiagnosticsHook } from '../../server/debug-hook.js';
import { resolveOptions } from '../../server/options.js';
import { runSingle, type Running } from '../../server/single.js';
import { waitFor } from '../helpers/net.js';
import { captureLogger } from '../helpers/server.js';

/** Every call made on the hook, by name; scope() runs its function, the rest return nothing. */
function recordingHook(): { hook: DiagnosticsHook; calls: { name: string; args: unknown[] }[] } {
  const calls: { name: string; args: unknown[] }[] = [];
  const hook = new Proxy({} as DiagnosticsHook, {
    get: (_t, name) => {
      if (name === 'then') return undefined; // not a thenable
      return (...args: unknown[]) => {
        calls.push({ name: String(name), args });
        if (name === 'scope') return (args[1] as () => unknown)();
        return undefined;
      };
    },
  });
  return { hook, calls };
}

let running: Running | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

describe('an event stream in debug mode', () => {
  it('is settled with the diagnostics hook when it ends, as a plain streamed response is', async () => {
    const { hook, calls } = recordingHook();
    const app = adapt((req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': req.url === '/sse' ? 'text/event-stream' : 'text/plain' });
      res.write('data: 1\n\n');
      setTimeout(() => res.end('data: 2\n\n'), 20);
    }, 'node');
    const options = resolveOptions([{ source: 'test', values: { bind: 'tcp://127.0.0.1:0', debug: true, inspect: false }, fromString: false }]);
    running = await runSingle(options, { adapted: app, hooks: {}, file: null }, captureLogger().logger, { diagnostics: hook });
    const url = `http://127.0.0.1:${running.listeners[0]!.port!}`;
    const settledUrls = () => calls.filter((c) => c.name === 'settled').map((c) => (c.args[0] as IncomingMessage).url);
    for (const path of ['/plain', '/sse']) {
      const res = await fetch(`${url}${path}`);
      expect(await res.text()).toBe('data: 1\n\ndata: 2\n\n');
      await waitFor(() => settledUrls().includes(path) || undefined, `${path} settled with the hook`, 2000);
    }
    expect(settledUrls()).toEqual(['/plain', '/sse']);
  });
});
