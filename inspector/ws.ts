// The ws package, required rather than imported. Imported as an ES module, each of its CommonJS
// files goes through Node 20's ES-module translator: 76 ms of CPU against 22 ms required
// (measured in a fresh process), paid by every -d or --inspect boot in its discovery thread.
import { createRequire } from 'node:module';
import type * as Ws from 'ws';

/** The CommonJS export: the WebSocket class, with the server class on it. */
const ws = createRequire(import.meta.url)('ws') as typeof Ws.default & { WebSocketServer: typeof Ws.WebSocketServer };

export const WebSocket = ws;
export type WebSocket = Ws.WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
export type RawData = Ws.RawData;
