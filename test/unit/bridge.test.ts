// Unit: discovery's bridge to the main thread (inspector/bridge.ts) with a session that behaves as
// node:inspector's does (a post once disconnected throws ERR_INSPECTOR_NOT_CONNECTED), and a real
// WebSocket client. A client's command that arrives after its session was ended (release(), as a
// stop signal does while the client holds the main thread paused) must not reach the ended session:
// ws still emits messages while the connection closes, and the throw would end discovery's thread
// (and the pause rescuer it hosts).
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MainThreadBridge, type BridgeSession } from '../../inspector/bridge.js';
import { wsPackage } from '../../inspector/ws.js';

class NodeLikeSession extends EventEmitter {
  connected = true;
  readonly posts: string[] = [];
  /** Posts made after the session was disconnected (node:inspector throws for each). */
  readonly refused: string[] = [];

  post(method: string, _params: object, callback: (err: Error | null, result?: object) => void): void {
    if (!this.connected) {
      this.refused.push(method);
      throw Object.assign(new Error('Session is not connected'), { code: 'ERR_INSPECTOR_NOT_CONNECTED' });
    }
    this.posts.push(method);
    setImmediate(() => callback(null, {}));
  }

  disconnect(): void {
    this.connected = false;
  }
}

let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

describe('the main-thread bridge', () => {
  it('posts nothing on a session it ended: a command the client sent as release() closed it is dropped, not posted (no ERR_INSPECTOR_NOT_CONNECTED throw in discovery\'s thread)', async () => {
    const sessions: NodeLikeSession[] = [];
    const bridge = new MainThreadBridge(
      () => {
        const s = new NodeLikeSession();
        sessions.push(s);
        return s as unknown as BridgeSession;
      },
      { debug: () => undefined },
    );
    server = createServer();
    server.on('upgrade', (req, socket, head) => bridge.accept(req, socket, head, 'tspuma-single'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = new (wsPackage())(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/tspuma-single`);
    const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    const answered = new Promise<unknown>((resolve) => client.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()))));
    client.send(JSON.stringify({ id: 1, method: 'Debugger.enable' }));
    expect(await answered).toEqual({ id: 1, result: {} });
    const session = sessions[0]!;
    // The main thread paused for this client; a stop signal releases it.
    session.emit('inspectorNotification', { method: 'Debugger.paused', params: { reason: 'other', callFrames: [] } });
    expect(bridge.release('tspuma is stopping (SIGTERM)')).toBe(1);
    expect(session.connected).toBe(false);
    // Sent before the client has read the close frame: it reaches the bridge as the connection closes.
    client.send(JSON.stringify({ id: 2, method: 'Runtime.evaluate', params: { expression: '1' } }));
    expect(await closed).toBe(1001);
    expect(session.refused).toEqual([]);
    expect(session.posts).toEqual(['NodeRuntime.notifyWhenWaitingForDisconnect', 'Debugger.enable']);
    bridge.close();
  });

  it("tells of a client's heap snapshot as its command goes to the main thread and as its answer comes back (single mode's blocked-loop warning names it, review7.5)", async () => {
    const told: string[] = [];
    let since = 0;
    let answer: (() => void) | null = null;
    const bridge = new MainThreadBridge(
      () => {
        const s = new NodeLikeSession();
        // The snapshot's answer waits until the case releases it, as the main thread's snapshot does.
        s.post = (method, _params, callback) => {
          s.posts.push(method);
          if (method === 'HeapProfiler.takeHeapSnapshot') answer = () => callback(null, {});
          else setImmediate(() => callback(null, {}));
        };
        return s as unknown as BridgeSession;
      },
      { debug: () => undefined },
      false,
      (work) => {
        since ||= work.since;
        told.push(`${work.what} ${work.since === since ? 'since' : '?'} ${work.until === null ? 'running' : work.until >= since ? 'ended' : '?'}`);
      },
    );
    server = createServer();
    server.on('upgrade', (req, socket, head) => bridge.accept(req, socket, head, 'tspuma-single'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = new (wsPackage())(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/tspuma-single`);
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    const answers: unknown[] = [];
    client.on('message', (data: Buffer) => answers.push(JSON.parse(data.toString())));
    client.send(JSON.stringify({ id: 1, method: 'HeapProfiler.enable' }));
    client.send(JSON.stringify({ id: 2, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: true } }));
    const deadline = Date.now() + 5000;
    while ((answer === null || answers.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(told).toEqual(['heap snapshot since running']);
    answer!();
    while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(answers).toEqual([{ id: 1, result: {} }, { id: 2, result: {} }]);
    expect(told).toEqual(['heap snapshot since running', 'heap snapshot since ended']);
    client.close();
    bridge.close();
  });
});
