// The pidfile and the state file name the server that wrote them. A second server started with
// the same path must not take the file over while the first still runs (`tspuma ctl -S` would
// steer the wrong one, and the first's stop would delete the second's file), and a server removes
// such a file at its stop only while it still names this process.
import { readFileSync, unlinkSync } from 'node:fs';
import { TspumaError } from './errors.js';
import { processAlive } from './process-alive.js';

export type OwnFileKind = 'pidfile' | 'state file';

/** The pid a pidfile (`1234\n`) or a state file (`{"pid": 1234, …}`) names, or null. */
export function pidIn(text: string): number | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  try {
    const pid = (JSON.parse(trimmed) as { pid?: unknown } | null)?.pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export interface ProcessProbe {
  /** Whether a process with this pid exists (signal 0). */
  alive(pid: number): boolean;
  /** Its command line, or null where /proc cannot tell. */
  commandLine(pid: number): string | null;
}

const SYSTEM: ProcessProbe = {
  alive: processAlive,
  commandLine(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      return null;
    }
  },
};

/**
 * Refuses to start when `path` names another running tspuma. A file left by a server that is
 * gone, or naming a pid that now belongs to another program (a container's pid reused after a
 * restart), is stale and is written over as before.
 */
export function refuseIfTaken(path: string, kind: OwnFileKind, source: string, probe: ProcessProbe = SYSTEM): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // none yet, or unreadable: writing it reports its own problem
  }
  const pid = pidIn(text);
  if (pid === null || pid === process.pid || !probe.alive(pid)) return;
  const command = probe.commandLine(pid);
  if (command !== null && !/tspuma/.test(command)) return;
  throw new TspumaError('TSPUMA_ERR_FILE_IN_USE', { what: kind, path, source, pid });
}

/** Removes `path` at this server's stop, only while it still names this process. */
export function removeIfOwn(path: string): void {
  try {
    if (pidIn(readFileSync(path, 'utf8')) !== process.pid) return;
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
