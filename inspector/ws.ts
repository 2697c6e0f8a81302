// The ws package, required rather than imported, and only at the first WebSocket: a discovery
// thread no DevTools client attaches to never loads it. Imported as an ES module, each of its
// CommonJS files goes through Node 20's ES-module translator: 76 ms of CPU against 22 ms required
// (measured in a fresh process). Required at all, it is about half of a discovery thread's boot
// (it loads node:https, tls, zlib and stream into the thread), paid by every -d or --inspect boot.
import { createRequire } from 'node:module';
import type * as Ws from 'ws';

/** The CommonJS export: the WebSocket class, with the server class on it. */
type WsPackage = typeof Ws.default & { WebSocketServer: typeof Ws.WebSocketServer };

let loaded: WsPackage | null = null;

/** The ws package, required on the first call. */
export function wsPackage(): WsPackage {
  return (loaded ??= createRequire(import.meta.url)('ws') as WsPackage);
}

/** A server for upgrades someone else has checked (discovery: Host, Origin, target), with no compression. */
export function upgradeServer(maxPayload: number): WebSocketServer {
  return new (wsPackage().WebSocketServer)({ noServer: true, perMessageDeflate: false, maxPayload });
}

export type WebSocket = Ws.WebSocket;
export type WebSocketServer = Ws.WebSocketServer;
export type RawData = Ws.RawData;
