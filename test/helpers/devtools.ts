// A DevTools client (chrome-remote-interface) attached to a target through tspuma's inspector
// discovery, for tests whose promise is about what happens once attached.
//
// chrome-remote-interface's own requests (GET /json/list for a target named by id, GET
// /json/protocol unless `local`) give up after a fixed 10 s with node's bare "Error: socket hang
// up" (its request.abort()); a primary starved at a load of 35-48 took longer, and two cases failed
// so with no step of theirs in the stack (tests22.1). Here the list is read on a fresh connection,
// retried until a deadline scaled by SLOWNESS, and the client uses the protocol description it
// ships: the WebSocket still goes through discovery's proxy, as DevTools' does. discovery.test
// keeps chrome-remote-interface's defaults (CDP({ host, port }), its /json/protocol) as users call it.
import CDP from 'chrome-remote-interface';
import { fetchFresh, waitFor } from './net.js';

interface Listed {
  id: string;
  type: string;
  webSocketDebuggerUrl?: string;
}

/**
 * Attaches to `target` (an id of discovery's /json/list: tspuma-worker-0, tspuma-single...) through
 * discovery at `base` (http://host:port); with no target, to the first listed, as
 * chrome-remote-interface's default does for node targets.
 */
export async function attachThroughDiscovery(base: string | URL, target?: string, timeoutMs = 20_000): Promise<CDP.Client> {
  const origin = new URL(String(base)).origin;
  const ws = await waitFor(
    async () => {
      const res = await fetchFresh(`${origin}/json/list`).catch(() => null);
      if (!res?.ok) return null;
      const list = (await res.json()) as Listed[];
      const found = target === undefined ? list.find((t) => t.webSocketDebuggerUrl) : list.find((t) => t.id === target);
      return found?.webSocketDebuggerUrl ?? null;
    },
    `${target ?? 'a target'} in ${origin}/json/list`,
    timeoutMs,
    100,
  );
  return CDP({ target: ws, local: true });
}
