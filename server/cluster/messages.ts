// The one union of messages between the cluster primary and its workers, sent over
// node:cluster's IPC channel. Stats travel as structured data.
import type { Stats } from '../server.js';

/** Worker -> primary. */
export type WorkerMessage =
  | { tspuma: 1; type: 'booted'; index: number; urls: string[] }
  | { tspuma: 1; type: 'checkin'; index: number; stats: Stats }
  | { tspuma: 1; type: 'boot-failed'; index: number; code: string | null; message: string }
  /** The worker's own inspector is open at url (ws://HOST:PORT/UUID). */
  | { tspuma: 1; type: 'inspector'; index: number; url: string };

/** Primary -> worker. */
export type PrimaryMessage = { tspuma: 1; type: 'stop' } | { tspuma: 1; type: 'gc' };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && (m as { tspuma?: unknown }).tspuma === 1;
}
export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return typeof m === 'object' && m !== null && (m as { tspuma?: unknown }).tspuma === 1;
}
