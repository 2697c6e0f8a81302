// WebSockets: export `websocket` beside the app; tspuma accepts the upgrade with `ws`, and the
// connection leaves the request pool (stats: connections.upgraded). Stop sends close 1001.
// Run: npx tspuma examples/websocket.ts   then: npx wscat -c ws://127.0.0.1:9292/chat?name=ann
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';

const room = new Set<WebSocket>();
const names = new WeakMap<WebSocket, string>();

function broadcast(text: string): void {
  for (const peer of room) if (peer.readyState === peer.OPEN) peer.send(text);
}

/** Plain HTTP on the same port. */
export default function app(request: Request): Response {
  return new Response(`${room.size} in the chat room; connect a WebSocket to /chat?name=YOU\n`);
}

export const websocket = {
  /** Refuse what is not for the chat: a status code (or false for 403) before the handshake. */
  accept(req: IncomingMessage): boolean | number {
    return new URL(req.url ?? '/', 'http://x').pathname === '/chat' ? true : 404;
  },
  open(ws: WebSocket, req: IncomingMessage): void {
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') || 'anonymous';
    names.set(ws, name);
    room.add(ws);
    ws.send(`welcome ${name}: ${room.size} here`);
    broadcast(`${name} joined`);
  },
  message(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (isBinary) return void ws.send(data, { binary: true }); // binary frames echo back
    broadcast(`${names.get(ws)}: ${data.toString()}`);
  },
  close(ws: WebSocket): void {
    room.delete(ws);
    broadcast(`${names.get(ws)} left`);
  },
};
