// Created by single.ts, cluster/run.ts (the primary) and cluster/worker.ts when inspect is on:
// opens this process's own inspector on its predictable port and hands the URL to discovery.
import inspector from 'node:inspector';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { InspectAddress } from '../server/options.js';
import type { InFlight } from '../server/server.js';

/** Who a process is, for its port and its title. */
export type Role = { kind: 'single' } | { kind: 'primary' } | { kind: 'worker'; index: number };

/** Discovery on base, the primary (or the single process) on base+1, worker i on base+2+i. */
export function inspectorPort(base: number, role: Role): number {
  if (base === 0) return 0;
  return role.kind === 'worker' ? base + 2 + role.index : base + 1;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Where a remote reader finds the requests in flight (see inspector/remote.ts). */
export const IN_FLIGHT = Symbol.for('tspuma.inFlight');

/** Lets an autopsy read the requests in flight while the process is paused. */
export function exposeInFlight(read: () => InFlight[]): void {
  (globalThis as Record<symbol, unknown>)[IN_FLIGHT] = read;
}

/**
 * Opens the inspector; a busy port is replaced by a free one with a warning (the server stays
 * up). Returns the ws:// URL, or null when no inspector could be opened.
 */
export function openInspector(addr: InspectAddress, role: Role, log: Logger): string | null {
  const already = inspector.url();
  if (already) return already; // started with node --inspect: keep it
  const port = inspectorPort(addr.port, role);
  const who = role.kind === 'worker' ? `worker ${role.index}` : role.kind;
  if (!isLoopback(addr.host)) {
    log.warn({ host: addr.host }, `The inspector of the ${who} listens on ${addr.host}, not loopback: anyone who reaches it can run code in this process`);
  }
  try {
    inspector.open(port, addr.host, false);
    let url = inspector.url();
    if (!url && port !== 0) {
      log.warn({ port }, `Inspector port ${port} (${who}) is in use; using a free port instead`);
      inspector.open(0, addr.host, false);
      url = inspector.url();
    }
    if (!url) throw new Error(`no port could be opened on ${addr.host}`);
    return url;
  } catch (err) {
    log.error({ err }, `Cannot open the inspector of the ${who}: ${(err as Error).message}`);
    return null;
  }
}

/** The DevTools address for a ws:// URL (host:port/path, no scheme). */
export function devtoolsUrl(ws: string): string {
  return `devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=${ws.replace(/^ws:\/\//, '')}`;
}
