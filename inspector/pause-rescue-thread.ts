// The rescuer thread's entry (see pause-rescuer.ts and pause-rescue.ts): runs the claim watch with
// sessions connected to the main thread, until the thread is terminated.
import { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';
import { watchClaims, type RescueSession } from './pause-rescue.js';

const { shared, rescueMs } = workerData as { shared: Int32Array; rescueMs: number };

void watchClaims(shared, rescueMs, () => {
  const session = new Session();
  session.connectToMainThread();
  return session as unknown as RescueSession;
});
// A pending waitAsync does not keep a thread alive; this does, until the thread is terminated.
setInterval(() => undefined, 1 << 30);
