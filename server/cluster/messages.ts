// The one union of messages between the cluster primary and its workers, sent over
// node:cluster's IPC channel. Stats travel as structured data.
import type { Stats } from '../server.js';
import type { ProbeSpec } from '../probe-spec.js';
import type { ClientWorkReport } from '../own-work.js';

/** What a worker says about one probe after arming it (or trying to). */
export type ProbeArmState =
  /**
   * `note`: what the user should know about the place (a one-line route's handler, a line a deploy
   * moved); `location`: FILE:LINE where it is armed in this worker (another line than the one set
   * when a deploy moved it).
   */
  | { state: 'armed'; at: string; note?: string; location?: string }
  /** The file is not loaded yet: armed when it loads. */
  | { state: 'pending' }
  | { state: 'error'; code: string; message: string };

/** Something that happened to a probe in a worker, for the primary's log and `tspuma probe list`. */
export type ProbeEvent =
  /** `path` null: taken but not written (`problem` says why); its text went to the worker's stderr. */
  | { event: 'snapshot'; path: string | null; problem?: string; requestId: string | null }
  | { event: 'paused'; requestId: string | null }
  | { event: 'suspended'; ms: number; code: string; message: string }
  | { event: 'removed'; code: string; message: string };

/** Worker -> primary. */
export type WorkerMessage =
  /** tsLoader: the TypeScript loader the worker loaded the app with (describeTsLoader), if any. */
  | { tspuma: 1; type: 'booted'; index: number; urls: string[]; tsLoader?: { kind: string; text: string } }
  | { tspuma: 1; type: 'checkin'; index: number; stats: Stats }
  | { tspuma: 1; type: 'boot-failed'; index: number; code: string | null; message: string }
  /** The worker's own inspector is open at url (ws://HOST:PORT/UUID). */
  | { tspuma: 1; type: 'inspector'; index: number; url: string }
  /** The worker listens for probes (sent first thing): the primary answers with every probe set. */
  | { tspuma: 1; type: 'probe-hello'; index: number }
  | ({ tspuma: 1; type: 'probe-state'; index: number; id: number } & ProbeArmState)
  /**
   * Hits per probe since the last report (about once a second, only when there were some), or
   * the answer to a probe-flush (`flushed`: its seq; sent even with no hits).
   */
  | { tspuma: 1; type: 'probe-hits'; index: number; hits: [id: number, hits: number, paused: number][]; flushed?: number }
  | ({ tspuma: 1; type: 'probe-event'; index: number; id: number } & ProbeEvent);

/** Primary -> worker. */
export type PrimaryMessage =
  | { tspuma: 1; type: 'stop' }
  /** A second stop signal at the primary: answer what is still running 503 (TSPUMA_ERR_FORCED_SHUTDOWN) and exit. `when`: "when SIGTERM came a second time (a forced stop)". */
  | { tspuma: 1; type: 'force'; when: string }
  | { tspuma: 1; type: 'gc' }
  /** balanceConnections: close this many keep-alive connections after their next response (connection-share.ts). */
  | { tspuma: 1; type: 'shed'; count: number }
  /** Arm a probe (inspector/probes.ts, loaded on the first one). */
  | { tspuma: 1; type: 'probe-set'; probe: ProbeSpec }
  | { tspuma: 1; type: 'probe-rm'; id: number }
  /** Report the hits counted since the last report now (list and rm answer with current counts). */
  | { tspuma: 1; type: 'probe-flush'; seq: number }
  /**
   * What a DevTools client has this worker do (a heap snapshot, a long evaluation), seen by
   * discovery's proxy, as it begins and as it ends. Its blocked-loop warning names it (own-work.ts).
   */
  | { tspuma: 1; type: 'client-work'; work: ClientWorkReport };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && (m as { tspuma?: unknown }).tspuma === 1;
}
export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return typeof m === 'object' && m !== null && (m as { tspuma?: unknown }).tspuma === 1;
}
