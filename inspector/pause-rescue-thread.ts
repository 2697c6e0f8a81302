// The pause rescuer's duty in the side thread (server/side-thread.ts; see pause-rescuer.ts and
// pause-rescue.ts): runs the claim watch with sessions connected to the main thread, until stopped.
import { Session } from 'node:inspector';
import { SLOT } from './pause-rescuer.js';
import { watchClaims, type RescueSession } from './pause-rescue.js';

export function runDuty({ shared, rescueMs }: { shared: Int32Array; rescueMs: number }): () => void {
  let stopped = false;
  void watchClaims(shared, rescueMs, () => {
    const session = new Session();
    session.connectToMainThread();
    return session as unknown as RescueSession;
  }, () => stopped);
  return () => {
    stopped = true;
    Atomics.notify(shared, SLOT.claims); // wakes the watch, which sees it stopped
  };
}
