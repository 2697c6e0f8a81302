// What the pause rescuer's thread does (see pause-rescuer.ts for why it exists): waits for
// capture's claims; a claim the main thread does not ack within its time is a capture pause held
// by an outside client. Then, and only then, a session to the main thread: enabling its Debugger
// during the pause brings the pause's event (reason "other"), whose top frame tells whether it is
// still the claimed one; if so it resumes it. The session leaves at once either way (no session
// stays: Node would wait for it at exit). No side effects at import: the thread's entry runs it,
// a test drives it with a session of its own.
import { SLOT } from './pause-rescuer.js';

/** The part of a node:inspector Session the rescuer uses (one connected to the main thread). */
export interface RescueSession {
  post(method: string, params: object, callback: (err: Error | null) => void): void;
  on(event: 'Debugger.paused', listener: (message: { params: Paused }) => void): unknown;
  disconnect(): void;
}

interface Paused {
  callFrames: { location: { scriptId: string; lineNumber: number; columnNumber: number } }[];
}

/** Atomics.waitAsync (Node 16+; not in this TypeScript lib). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms?: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

/**
 * Resumes the main thread if its current pause is at the claimed frame; resolves when the
 * session has left. `session` is connected to the main thread already.
 *
 * Node delivers an event the main thread queued for this session before it left after it left
 * (a Debugger.paused of a pause that began as the session was leaving: measured on Node 20, see
 * test/unit/pause-rescue.test.ts): such an event is no longer this session's to answer, and a
 * post on the left session would throw inside node:inspector's dispatch, which prints it as a raw
 * `[ERR_INSPECTOR_NOT_CONNECTED] Session is not connected` process warning (T15).
 */
export function rescue(session: RescueSession, shared: Int32Array): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const leave = () => {
      if (done) return;
      done = true;
      try {
        session.disconnect();
      } catch {
        /* already gone */
      }
      resolve();
    };
    session.on('Debugger.paused', (m) => {
      if (done) return; // delivered after the session left (see above)
      const top = m.params.callFrames[0]?.location;
      const claimed = top && Number(top.scriptId) === Atomics.load(shared, SLOT.scriptId) && top.lineNumber === Atomics.load(shared, SLOT.line) && top.columnNumber === Atomics.load(shared, SLOT.column);
      if (!claimed || Atomics.load(shared, SLOT.acks) >= Atomics.load(shared, SLOT.claims)) return leave();
      try {
        session.post('Debugger.resume', {}, (err) => {
          if (!err) Atomics.add(shared, SLOT.rescued, 1);
          leave();
        });
      } catch {
        leave();
      }
    });
    // No paused event before enable's answer: the thread is not paused (any more).
    try {
      session.post('Debugger.enable', {}, () => setImmediate(leave));
    } catch {
      leave();
    }
  });
}

/**
 * The thread's loop: each claim not acked within `rescueMs` (and not followed by a newer claim)
 * gets a session from `connect` that resumes it if still held. Ends once `stopped()` is true
 * after a wake-up (the main thread notifies SLOT.claims to wake it).
 */
export async function watchClaims(shared: Int32Array, rescueMs: number, connect: () => RescueSession, stopped: () => boolean = () => false): Promise<void> {
  let seen = Atomics.load(shared, SLOT.claims);
  for (;;) {
    const wait = waitAsync(shared, SLOT.claims, seen);
    if (wait.async) await wait.value;
    if (stopped()) return;
    const claim = Atomics.load(shared, SLOT.claims);
    seen = claim;
    // The main thread acks once it runs on; no ack in time: held.
    const deadline = Date.now() + rescueMs;
    while (Atomics.load(shared, SLOT.acks) < claim && Date.now() < deadline) {
      const acked = waitAsync(shared, SLOT.acks, Atomics.load(shared, SLOT.acks), Math.max(1, deadline - Date.now()));
      if (acked.async) await acked.value;
    }
    if (stopped()) return;
    if (Atomics.load(shared, SLOT.acks) < claim && Atomics.load(shared, SLOT.claims) === claim) await rescue(connect(), shared);
  }
}
