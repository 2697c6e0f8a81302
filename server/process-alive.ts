// Whether a process runs, by its pid (signal 0): what ctl, the inspector client, the dump budget
// and the pidfile check ask. EPERM means it runs as another user. And which machine and pid
// namespace a pid written in a shared folder is one of (machineTag).
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { nodeCrypto } from './lazy-crypto.js';

/** True while `pid` runs (as any user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves true once `pid` is gone, false if it still runs `ms` later (checked every 20 ms). */
export async function processExits(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** This process's pid namespace (the inode /proc/self/ns/pid names), or '0' where it cannot be read (not Linux). */
export function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/**
 * The fields of /proc/<pid>/stat after the command (`[state, ppid, ...]`: counted after the
 * command's closing parenthesis, since a command may hold spaces and parentheses), or null where
 * it cannot be read (the process is gone, not Linux).
 */
export function procStat(pid: number | 'self'): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** When `pid` started (field 22 of /proc/<pid>/stat: clock ticks after boot), or null where it cannot be read. */
export function processStart(pid: number | 'self'): string | null {
  return procStat(pid)?.[19] ?? null;
}

let tag: string | null = null;

/**
 * 8 hex digits naming this machine and pid namespace (host name and namespace, hashed): where a
 * pid means this process. A pid in a name another machine or container wrote to a shared folder
 * (a dump folder on a volume several hosts mount) says nothing about a process here.
 */
export function machineTag(): string {
  return (tag ??= nodeCrypto().createHash('sha1').update(`${hostname()}\0${pidNamespace()}`).digest('hex').slice(0, 8));
}
