// Unit: the app's `websocket` export, as loadApp (server/app-loader.ts) checks it at boot. tspuma
// calls its accept/open/message/close as handlers; a WebSocket server object (ws's
// WebSocketServer, any EventEmitter) exported there has a `close` method that is not a handler.
import { EventEmitter } from 'node:events';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { loadApp } from '../../server/app-loader.js';

const fetchApp = () => new Response('hi');

describe('loadApp: the websocket export', () => {
  it("refuses a ws WebSocketServer exported as `websocket` at boot with TSPUMA_ERR_APP_HANDLER, naming it and the `upgrade` export that serves one (it was taken, its close() called as the close handler: 'The \"listener\" argument must be of type function')", async () => {
    const wss = new WebSocketServer({ noServer: true });
    try {
      const loading = loadApp({ fetch: fetchApp, websocket: wss }, process.cwd(), 'test');
      await expect(loading).rejects.toMatchObject({ code: 'TSPUMA_ERR_APP_HANDLER' });
      await expect(loading).rejects.toThrow(/exports `websocket` as an instance of WebSocketServer; expected an object of handlers \(accept, open, message, close\), not a server object .* export `upgrade\(req, socket, head\)` instead: .*wss\.handleUpgrade\(req, socket, head, \(ws\) => wss\.emit\('connection', ws, req\)\)/);
    } finally {
      wss.close();
    }
  });

  it('refuses an EventEmitter with no handler but close (a server object of another library) the same way', async () => {
    const server = Object.assign(new EventEmitter(), { close: () => undefined });
    await expect(loadApp({ fetch: fetchApp, websocket: server }, process.cwd(), 'test')).rejects.toThrow(/not a server object/);
  });

  it("takes an EventEmitter of the app's own that has handler methods (a chat room that emits to its subscribers)", async () => {
    class Room extends EventEmitter {
      message(): void {}
      close(): void {}
    }
    const room = new Room();
    const loaded = await loadApp({ fetch: fetchApp, websocket: room }, process.cwd(), 'test');
    expect(loaded.adapted.websocket).toBe(room);
  });

  it('takes an object of handlers, a class instance with handler methods included', async () => {
    class Chat {
      message(): void {}
      close(): void {}
    }
    const chat = new Chat();
    const loaded = await loadApp({ fetch: fetchApp, websocket: chat }, process.cwd(), 'test');
    expect(loaded.adapted.websocket).toBe(chat);
  });
});
