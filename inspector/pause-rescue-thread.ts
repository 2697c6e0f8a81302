// The rescuer thread (see pause-rescuer.ts): waits for capture's claims; a claim the main thread
// does not ack within its time is a capture pause held by an outside client. Then, and only then,
// a session to the main thread: enabling its Debugger during the pause brings the pause's event
// (reason "other"), whose top frame tells whether it is still the claimed one; if so it resumes
// it. The session leaves at once either way (no session stays: Node would wait for it at exit).
import { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';
import { SLOT } from './pause-rescuer.js';

const { shared, rescueMs } = workerData as { shared: Int32Array; rescueMs: number };

/** Atomics.waitAsync (Node 16+; not in this TypeScript lib). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms?: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

interface Paused {
  callFrames: { location: { scriptId: string; lineNumber: number; columnNumber: number } }[];
}

/** Resumes the main thread if its current pause is at the claimed frame; resolves when the session has left. */
function rescue(): Promise<void> {
  return new Promise((resolve) => {
    const session = new Session();
    session.connectToMainThread();
    let done = false;
    const leave = () => {
      if (done) return;
      done = true;
      session.disconnect();
      resolve();
    };
    session.on('Debugger.paused', (m: { params: Paused }) => {
      const top = m.params.callFrames[0]?.location;
      const claimed = top && Number(top.scriptId) === Atomics.load(shared, SLOT.scriptId) && top.lineNumber === Atomics.load(shared, SLOT.line) && top.columnNumber === Atomics.load(shared, SLOT.column);
      if (!claimed || Atomics.load(shared, SLOT.acks) >= Atomics.load(shared, SLOT.claims)) return leave();
      session.post('Debugger.resume', (err: Error | null) => {
        if (!err) Atomics.add(shared, SLOT.rescued, 1);
        leave();
      });
    });
    // No paused event before enable's answer: the thread is not paused (any more).
    session.post('Debugger.enable', () => setImmediate(leave));
  });
}

async function watch(): Promise<void> {
  let seen = Atomics.load(shared, SLOT.claims);
  for (;;) {
    const wait = waitAsync(shared, SLOT.claims, seen);
    if (wait.async) await wait.value;
    const claim = Atomics.load(shared, SLOT.claims);
    seen = claim;
    // The main thread acks once it runs on; no ack in time: held.
    const deadline = Date.now() + rescueMs;
    while (Atomics.load(shared, SLOT.acks) < claim && Date.now() < deadline) {
      const acked = waitAsync(shared, SLOT.acks, Atomics.load(shared, SLOT.acks), Math.max(1, deadline - Date.now()));
      if (acked.async) await acked.value;
    }
    if (Atomics.load(shared, SLOT.acks) < claim && Atomics.load(shared, SLOT.claims) === claim) await rescue();
  }
}

void watch();
// A pending waitAsync does not keep a thread alive; this does, until the thread is terminated.
setInterval(() => undefined, 1 << 30);
