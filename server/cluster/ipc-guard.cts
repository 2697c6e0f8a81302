// Preloaded (--require) into every cluster worker, before any of tspuma's modules: a primary that
// died before this worker started (or while it runs) makes node's own first IPC message, the
// `online` that cluster._setupWorker sends while node sets the process up, fail with EPIPE. Node
// emits that on the cluster Worker object, where nothing listens yet, and the process died with
// node's raw `Unhandled 'error' event … write EPIPE … at cluster._setupWorker` stack instead of
// tspuma's one line; and a channel that closed before tspuma's worker code ran made node exit the
// process with code 0, silently. Here such an error (the channel to the primary is closed) is
// dropped and node's exit is stopped: the worker's watch on its primary (primary-watch.ts) sees
// the closed channel, says so in one line and exits 1. Any other error is thrown as node would.
import type { Cluster } from 'node:cluster';

const cluster = require('node:cluster') as Cluster;

const CLOSED = new Set(['EPIPE', 'ECONNRESET', 'ERR_IPC_CHANNEL_CLOSED']);

// Its own flag off the arguments the app's child processes inherit (child_process.fork takes process.execArgv).
const at = process.execArgv.findIndex((a, i) => a === '--require' && process.execArgv[i + 1] === __filename);
if (at !== -1) process.execArgv.splice(at, 2);

const worker = cluster.worker;
worker?.on('error', (err: NodeJS.ErrnoException) => {
  if (!CLOSED.has(err?.code ?? '')) throw err;
});
// Node exits a worker whose channel closes unexpectedly at once, with code 0 and not a word (it
// checks this flag right after the 'disconnect' listeners ran): the watch says why, then exits 1.
worker?.on('disconnect', () => {
  worker.exitedAfterDisconnect = true;
});
