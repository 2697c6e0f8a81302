// Unit (isolated: a thread and modules of its own): the inspector's discovery thread requires the
// ws package only at the first WebSocket upgrade. Required, ws is about half of the thread's boot
// CPU (node:https, tls, zlib and stream with it), which every -d or --inspect boot paid whether or
// not a DevTools client ever attached (issue 31).
import { EventEmitter } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

/** Whether this thread has required the ws package (its CommonJS cache is the thread's own). */
const wsRequired = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/ws/'));

let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

class Session extends EventEmitter {
  post(_method: string, _params: object, callback: (err: Error | null, result?: object) => void): void {
    setImmediate(() => callback(null, {}));
  }
  disconnect(): void {}
}

describe('ws in the discovery thread', () => {
  it("is not required by discovery's modules, a bridge or a worker proxy; a client's upgrade requires it and is answered 101", async () => {
    // What discovery-thread.ts imports, and what it makes at start.
    const { MainThreadBridge } = await import('../../inspector/bridge.js');
    await import('../../inspector/discovery.js');
    const { WorkerProxy } = await import('../../inspector/worker-proxy.js');
    const bridge = new MainThreadBridge(() => new Session() as never, { debug: () => undefined });
    const proxy = new WorkerProxy({ debug: () => undefined });
    expect(wsRequired()).toBe(false);
    server = createServer();
    server.on('upgrade', (req, socket, head) => bridge.accept(req, socket, head, 'tspuma-single'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ port: (server!.address() as AddressInfo).port, host: '127.0.0.1', path: '/tspuma-single', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.once('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode!);
      });
      req.once('response', (res) => resolve(res.statusCode!));
      req.once('error', reject);
      req.end();
    });
    expect(status).toBe(101);
    expect(wsRequired()).toBe(true);
    bridge.close();
    proxy.close();
  });
});
