// Keeps one of node's `process.nextTick` tick objects alive for the life of the process, so the
// hidden classes (V8 maps) that object literal goes through survive every full GC.
//
// Why (bench/README.md, session 13): node builds each tick object as a literal with two computed
// symbol keys (`{ [async_id_symbol]: ..., [trigger_async_id_symbol]: ..., callback, args }`). V8
// defines a computed key through a feedback slot that is either monomorphic (one map) or
// megamorphic, and never goes back. The maps of a short-lived literal are held only by live
// instances of it: a full GC that runs while no tick is queued (the memory reducer's GCs when the
// process idles, 8 s or more after boot) frees them, the next tick builds new ones, the slot sees
// another map and turns megamorphic, and from then on every `process.nextTick` (about ten a
// request in node's streams and http code) defines both keys through the runtime: about 4,000
// instructions a tick instead of a few dozen, for the rest of the process's life. One kept
// instance holds its map, and through the map's back pointers the whole chain, so the slot stays
// monomorphic whatever the GC does.
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | null = null;
let queued = false;

/**
 * Queues one tick whose callback keeps its own tick object (node hands it out as the running
 * resource, async_hooks.executionAsyncResource()). Idempotent; no hook is enabled, and nothing
 * runs after that one tick.
 */
export function keepTickObjectShape(): void {
  if (queued) return;
  queued = true;
  process.nextTick(keepRunningTick);
}

function keepRunningTick(): void {
  kept = executionAsyncResource();
}

/** The tick object kept: null until the tick queued by keepTickObjectShape has run (for tests). */
export function keptTickObject(): object | null {
  return kept;
}
