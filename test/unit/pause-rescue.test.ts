// Unit: the pause rescuer's session (inspector/pause-rescue.ts) with a session that behaves as
// node:inspector's does, and the node:inspector behaviour it has to live with, pinned on the real
// thing: an event queued for a session connected from another thread is delivered after that
// session left, and a post from its listener then throws, which Node prints as a raw process
// warning (T15: `[ERR_INSPECTOR_NOT_CONNECTED] ... Session is not connected` at -d -w 2 boots).
import { EventEmitter } from 'node:events';
import { Session } from 'node:inspector';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SLOT } from '../../inspector/pause-rescuer.js';
import { rescue, type RescueSession } from '../../inspector/pause-rescue.js';

/** As node:inspector's Session: a post once disconnected throws, and a throw in a listener becomes a process warning. */
class NodeLikeSession extends EventEmitter {
  connected = true;
  readonly posts: string[] = [];
  /** What Node would have printed as process warnings (errors thrown by listeners it dispatched to). */
  readonly warnings: string[] = [];

  post(method: string, _params: object, callback: (err: Error | null) => void): void {
    if (!this.connected) throw Object.assign(new Error('Session is not connected'), { code: 'ERR_INSPECTOR_NOT_CONNECTED' });
    this.posts.push(method);
    setImmediate(() => callback(null));
  }

  disconnect(): void {
    this.connected = false;
  }

  /** node:inspector's dispatch of an event: a listener's throw goes to process.emitWarning. */
  deliver(event: string, params: object): void {
    try {
      this.emit(event, { params });
    } catch (err) {
      this.warnings.push(`[${(err as { code?: string }).code}] ${(err as Error).message}`);
    }
  }
}

/** A claim at scriptId 7, 3:5 that the main thread has not acked. */
function heldClaim(): Int32Array {
  const shared = new Int32Array(new SharedArrayBuffer(6 * 4));
  Atomics.store(shared, SLOT.scriptId, 7);
  Atomics.store(shared, SLOT.line, 3);
  Atomics.store(shared, SLOT.column, 5);
  Atomics.store(shared, SLOT.claims, 1);
  return shared;
}

const pausedAtClaim = { reason: 'other', callFrames: [{ location: { scriptId: '7', lineNumber: 3, columnNumber: 5 } }] };

describe('the pause rescuer session', () => {
  it('resumes a pause still held at the claimed frame, counts it, and leaves', async () => {
    const shared = heldClaim();
    const session = new NodeLikeSession();
    const left = rescue(session as RescueSession, shared);
    session.deliver('Debugger.paused', pausedAtClaim);
    await left;
    expect(session.posts).toEqual(['Debugger.enable', 'Debugger.resume']);
    expect(Atomics.load(shared, SLOT.rescued)).toBe(1);
    expect(session.connected).toBe(false);
  });

  it('ignores a Debugger.paused delivered after it left (posts nothing on the left session, so Node prints no ERR_INSPECTOR_NOT_CONNECTED warning) (T15)', async () => {
    const shared = heldClaim();
    const session = new NodeLikeSession();
    // Enable answered with no pause: the thread runs, the session leaves.
    await rescue(session as RescueSession, shared);
    expect(session.connected).toBe(false);
    // The main thread paused at the claimed frame again as the session was leaving: Node still delivers it.
    session.deliver('Debugger.paused', pausedAtClaim);
    expect(session.warnings).toEqual([]);
    expect(session.posts).toEqual(['Debugger.enable']);
    expect(Atomics.load(shared, SLOT.rescued)).toBe(0);
  });

  it('node:inspector delivers a Debugger.paused queued for a session connected from a worker thread after that session disconnected, and a post from the listener then throws ERR_INSPECTOR_NOT_CONNECTED (the path rescue() guards)', async () => {
    // The worker's session: enabled, it lets the main thread pause, waits (blocked, so the event
    // stays queued) until the main thread's own handler says it paused at this case's throw, then
    // disconnects. What it reports is whether the main thread had paused by then (the flag), not
    // how its wait ended: a worker thread descheduled between its 'go' and its wait on a loaded
    // machine finds the flag set already ('not-equal'), and that failed the case once (boot4.1).
    const code = `
      const { Session } = require('node:inspector');
      const { parentPort, workerData } = require('node:worker_threads');
      const s = new Session();
      s.connectToMainThread();
      let left = false;
      s.on('Debugger.paused', (m) => {
        let threw = null;
        try { s.post('Debugger.resume', () => {}); } catch (e) { threw = e.code; }
        const ours = String(m.params?.data?.description ?? '').includes(workerData.marker);
        parentPort.postMessage({ type: 'paused', left, threw, ours });
      });
      s.post('Debugger.enable', () => {
        parentPort.postMessage({ type: 'go' });
        Atomics.wait(workerData.flag, 0, 0, 30000);
        const pausedFirst = Atomics.load(workerData.flag, 0) === 1;
        left = true;
        s.disconnect();
        parentPort.postMessage({ type: 'left', pausedFirst });
      });
      setInterval(() => {}, 1 << 30);
    `;
    const marker = 'a pause while the worker is blocked';
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const own = new Session();
    own.connect();
    // Pauses at all exceptions: one caught elsewhere on this thread meanwhile (vitest's own) is
    // resumed and not taken for this case's.
    own.on('Debugger.paused', (m) => {
      if (String((m.params as { data?: { description?: string } }).data?.description ?? '').includes(marker)) {
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
      }
      own.post('Debugger.resume');
    });
    own.post('Debugger.enable');
    own.post('Debugger.setPauseOnExceptions', { state: 'all' });
    const worker = new Worker(code, { eval: true, workerData: { flag, marker } });
    try {
      const seen = await new Promise<{ left: unknown; threw: unknown; pausedFirst: unknown }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no Debugger.paused reached the worker within 60 s')), 60_000);
        let left: { pausedFirst?: boolean } = {};
        worker.on('error', reject);
        worker.on('message', (m: { type: string; left?: boolean; threw?: string | null; pausedFirst?: boolean; ours?: boolean }) => {
          if (m.type === 'go') {
            try {
              throw new Error(marker);
            } catch {
              /* caught */
            }
          } else if (m.type === 'left') left = m;
          else if (m.type === 'paused' && m.ours) {
            clearTimeout(timer);
            resolve({ left: m.left, threw: m.threw, pausedFirst: left.pausedFirst });
          }
        });
      });
      // The main thread had paused at this case's throw before the session left; the event queued
      // for it then was delivered after it left, and the listener's post threw.
      expect(seen).toEqual({ left: true, threw: 'ERR_INSPECTOR_NOT_CONNECTED', pausedFirst: true });
    } finally {
      own.post('Debugger.setPauseOnExceptions', { state: 'none' });
      own.disconnect();
      await worker.terminate();
    }
  });
});
