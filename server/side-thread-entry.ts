// The side thread's entry (side-thread.ts): serves the duties the main thread starts and stops.
// Its message port keeps it alive until the main thread terminates it.
import { parentPort } from 'node:worker_threads';
import { serveDuties } from './side-thread-duties.js';

if (parentPort) serveDuties(parentPort);
