// A probe's set, as the tests read it: POST /probes answers once every worker has armed the probe
// or said why not, or after ARM_WAIT_MS (10 s, server/cluster/probe-registry.ts) with the slow
// ones still 'sent'. On a loaded machine (a load of 30-40 on 2 cores) a worker was still 'sent'
// then: a case that read `at` or `note` from the answer saw none, and one that sent its request at
// once ran the line before the probe was there (no hit, ever). A case waits for the answers here.
import { waitFor } from './net.js';

/** Polls `view` (GET /probes/ID) until every worker has answered the set (none 'sent'); resolves with that view. */
export function answeredView<V extends { workers: Record<string, { state: string }> }>(view: () => Promise<V>, timeoutMs = 20_000): Promise<V> {
  let last: V | undefined;
  return waitFor(async () => {
    last = await view();
    const workers = Object.values(last.workers);
    return workers.length > 0 && workers.every((w) => w.state !== 'sent') ? last : null;
  }, 'every worker to answer a probe set', timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}; the probe's workers: ${JSON.stringify(last?.workers)}`);
  });
}
