// Debug mode's capture pauses at a throw, reads the values and resumes, all in-process. With a
// session from outside the thread attached (a DevTools client through discovery's bridge or on a
// worker's port, chrome-remote-interface), Node keeps the paused thread in its pause loop until
// a resume comes from outside the thread, and the in-process resume is lost: a client that
// enabled the Debugger and never resumes would hold the request at every capture pause. The
// rescuer runs in another thread, with no inspector session while nothing is stuck (so a
// capture pause costs nothing more when no client is attached): capture tells it, through shared
// memory, of each pause it has finished with (claim) and, once the thread runs on, that it did
// (ack, from a microtask queued in the pause). A claim not acked within RESCUE_MS gets a session
// that resumes the pause if it is still that one (the same top frame), then leaves
// (pause-rescue.ts). The thread is the process's side thread (server/side-thread.ts).
import { startDuty } from '../server/side-thread.js';

/** How long a finished capture pause may last before it is deemed held by an outside client. */
export const RESCUE_MS = 200;

/** Slots of the shared Int32Array. */
export const SLOT = { claims: 0, acks: 1, scriptId: 2, line: 3, column: 4, rescued: 5 } as const;

export interface PauseRescuer {
  /** The capture's pause at this top frame is finished with (call last in its handler). */
  claim(top: { scriptId: string; lineNumber: number; columnNumber: number }): void;
  /** Pauses the thread resumed so far (capture's own held by an outside client). */
  readonly rescued: number;
  /** Ends the thread. */
  close(): Promise<void>;
}

export function startRescuer(): PauseRescuer {
  const shared = new Int32Array(new SharedArrayBuffer(6 * 4));
  // In the process's side thread (a -d worker's primary watch runs there too); a thread that
  // fails or cannot start leaves capture as it was without it.
  const duty = startDuty(new URL('./pause-rescue-thread.js', import.meta.url), { shared, rescueMs: RESCUE_MS });
  return {
    claim(top) {
      const n = Atomics.load(shared, SLOT.claims) + 1;
      Atomics.store(shared, SLOT.scriptId, Number(top.scriptId) | 0);
      Atomics.store(shared, SLOT.line, top.lineNumber);
      Atomics.store(shared, SLOT.column, top.columnNumber);
      Atomics.store(shared, SLOT.claims, n);
      Atomics.notify(shared, SLOT.claims);
      // A microtask queued in a pause handler runs only once the pause has ended (measured: not
      // while an outside session holds it), at the end of the code running when it threw.
      queueMicrotask(() => {
        if (Atomics.load(shared, SLOT.acks) >= n) return;
        Atomics.store(shared, SLOT.acks, n);
        Atomics.notify(shared, SLOT.acks);
      });
    },
    get rescued() {
      return Atomics.load(shared, SLOT.rescued);
    },
    close: async () => {
      await duty?.stop();
    },
  };
}
