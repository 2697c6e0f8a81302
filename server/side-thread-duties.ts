// The thread side of side-thread.ts: starts each duty the main thread asks for by importing its
// module and calling runDuty, and stops it when asked. The side thread's own entry serves it, and
// so does inspector discovery's thread, which hosts the duties in a process that runs it.
import type { MessagePort } from 'node:worker_threads';
import type { DutyModule, ToSideThread } from './side-thread.js';

/** Serves the duty messages arriving on `port` (other messages are left to their own listeners). */
export function serveDuties(port: MessagePort): void {
  const stops = new Map<number, () => void>();
  /** Stops asked for before their duty's module had loaded. */
  const stoppedEarly = new Set<number>();
  port.on('message', (message: ToSideThread | { type?: unknown }) => {
    if (message.type === 'stop') {
      const { id } = message as Extract<ToSideThread, { type: 'stop' }>;
      const stop = stops.get(id);
      if (!stop) return void stoppedEarly.add(id);
      stops.delete(id);
      stop();
      return;
    }
    if (message.type !== 'start') return;
    const start = message as Extract<ToSideThread, { type: 'start' }>;
    import(start.module).then(
      (mod: DutyModule<unknown>) => {
        const stop = mod.runDuty(start.data);
        if (stoppedEarly.delete(start.id)) stop();
        else stops.set(start.id, stop);
      },
      () => undefined, // a duty that cannot load leaves the main thread's own work as it was
    );
  });
}
