// Takes node's socket stream states through the hidden-class (V8 map) transitions of an errored
// destroy once, at boot, before any request path is optimized.
//
// Why (bench/README.md, session 24, hono6): node 20 keeps a stream state's `errored` value in a
// property its ReadableState and WritableState get only when a stream is destroyed with an error.
// The first such destroy in a process (under load: a client's reset, `read ECONNRESET`, as wrk's
// connections close at the end of a run) moves a socket's states to new maps, so the maps every
// accepted socket's states had until then stop being stable, and V8 throws away every optimized
// function that relied on them: about 24 of node's stream, net and http functions (Readable.read,
// flow, emitReadable_, endReadable, write_, parserOnHeadersComplete, resOnFinish...), recompiled
// over the next seconds of load. A handle-less socket shares those maps (the same constructors),
// so destroying one with an error here takes that hit while nothing is optimized yet. The states'
// maps end as a process that met one reset has them; no new map reaches node's request path.
import { Socket } from 'node:net';

let done = false;

/** Destroys one handle-less socket with an error (its 'error' and 'close' come on a later tick, ignored). Idempotent. */
export function takeErroredStreamTransitions(): void {
  if (done) return;
  done = true;
  const socket = new Socket();
  socket.on('error', ignore);
  socket.destroy(new Error('tspuma: boot-time errored stream shape'));
}

function ignore(): void {}
