// The types of every export an app module may have are importable from the package's entry, as a
// user's `tsc --noEmit` needs them (N19: WebSocketHandler and UpgradeHandler were not). The check
// is the type-check of this file (typecheck.test.ts); the test runs the handlers it types.
import { describe, expect, it } from 'vitest';
import type { FetchApp, NodeListener, UpgradeHandler, WebSocketHandler } from '../../server/index.js';

describe("the package entry's types", () => {
  it('type a websocket export, an upgrade export, a fetch app and a listener as an app module writes them', async () => {
    const sent: unknown[] = [];
    const websocket: WebSocketHandler = {
      accept: (req) => (req.url === '/ws' ? true : 403),
      message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }),
    };
    const upgrade: UpgradeHandler = (_req, socket) => socket.destroy();
    const app: FetchApp = { fetch: () => new Response('ok') };
    const listener: NodeListener = (_req, res) => res.end('ok');
    expect(websocket.accept!({ url: '/ws' } as never)).toBe(true);
    expect(websocket.accept!({ url: '/other' } as never)).toBe(403);
    websocket.message!({ send: (d: unknown) => sent.push(d) } as never, Buffer.from('hi'), false);
    expect(sent).toEqual([Buffer.from('hi')]);
    let destroyed = false;
    upgrade({} as never, { destroy: () => void (destroyed = true) } as never, Buffer.alloc(0));
    expect(destroyed).toBe(true);
    expect(await (await app.fetch(new Request('http://localhost/'), {} as never)).text()).toBe('ok');
    const ended: unknown[] = [];
    listener({} as never, { end: (body: unknown) => void ended.push(body) } as never);
    expect(ended).toEqual(['ok']);
  });
});
