// The side thread's entry (side-thread.ts): starts each duty the main thread asks for by importing
// its module and calling runDuty, and stops it when asked. Its message port keeps it alive until
// the main thread terminates it.
import { parentPort } from 'node:worker_threads';
import type { DutyModule, ToSideThread } from './side-thread.js';

const stops = new Map<number, () => void>();
/** Stops asked for before their duty's module had loaded. */
const stoppedEarly = new Set<number>();

parentPort?.on('message', (message: ToSideThread) => {
  if (message.type === 'stop') {
    const stop = stops.get(message.id);
    if (!stop) return void stoppedEarly.add(message.id);
    stops.delete(message.id);
    stop();
    return;
  }
  import(message.module).then(
    (mod: DutyModule<unknown>) => {
      const stop = mod.runDuty(message.data);
      if (stoppedEarly.delete(message.id)) stop();
      else stops.set(message.id, stop);
    },
    () => undefined, // a duty that cannot load leaves the main thread's own work as it was
  );
});
