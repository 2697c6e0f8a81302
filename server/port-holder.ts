// Which process holds a TCP port (read from /proc), for the hint of an EADDRINUSE listen error;
// null where it cannot be found.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { ownCode } from './shared-names.js';

export interface PortHolder {
  pid: number;
  command: string;
}

/** The rows of /proc/net/tcp and tcp6 (those that can be read), split into columns, with their table's family. */
function* tcpRows(): Generator<{ cols: string[]; v6: boolean }> {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode(9)
      if (cols.length >= 10) yield { cols, v6: table.endsWith('6') };
    }
  }
}

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const { cols } of tcpRows()) {
    if (cols[3] === '0A' && cols[1]!.endsWith(`:${hexPort}`)) inodes.add(cols[9]!);
  }
  return inodes;
}

/** An address as /proc/net writes it (32-bit words in host order, little-endian here) in text: `0.0.0.0`, `::`, `::ffff:127.0.0.1`. */
function procAddress(hex: string, v6: boolean): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(hex.slice(w + b, w + b + 2), 16));
  if (!v6) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  if (groups.every((g) => g === 0)) return '::';
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes.slice(12).join('.')}`;
  return groups.map((g) => g.toString(16)).join(':');
}

/**
 * The local address a listening TCP socket of this process is bound to, by its fd (a socket
 * systemd passed, whose bind has no host): from /proc; null when the fd is no listening TCP
 * socket (a unix socket) or /proc cannot tell (not Linux).
 */
export function listeningAddressOfFd(fd: number): string | null {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
  const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
  if (inode === undefined) return null;
  for (const { cols, v6 } of tcpRows()) {
    if (cols[3] === '0A' && cols[9] === inode) return procAddress(cols[1]!.split(':')[0]!, v6);
  }
  return null;
}

/** The pids of a process's children (every thread's), from /proc; [] where that cannot be read. */
function childrenOf(pid: string): string[] {
  const out: string[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter((p) => /^\d+$/.test(p)));
      } catch {
        /* the thread ended */
      }
    }
  } catch {
    /* not readable */
  }
  return out;
}

/**
 * Whether some socket listens on a TCP port (any local address), as /proc/net shows every
 * process's, also those whose holder cannot be named (another user's: their fds are not readable).
 */
export function portListening(port: number): boolean {
  return listeningInodes(port).size > 0;
}

/**
 * Finds the process listening on a TCP port. Linux only; bounded to ~200 ms of scanning after the
 * parent process and its other children, which are read first whatever the bound. The
 * scan meets processes it may not read (EACCES) and fds that close meanwhile (ENOENT): in debug
 * mode it runs with pausing off (ownCode), so none of those throws pauses the process.
 */
export function findPortHolder(port: number, budgetMs = 200): PortHolder | null {
  return ownCode(() => scan(port, budgetMs));
}

function scan(port: number, budgetMs: number): PortHolder | null {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return null;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  const deadline = Date.now() + budgetMs;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  // This process first: the app's own listen() while it loaded (Express's app.listen(PORT) beside
  // `PORT=3000 tspuma app.ts`) takes the port before tspuma binds it (review11.7).
  // Then the parent (what started this process: a shell's other job, a supervisor, a test
  // runner's own listener): found at once however many processes the machine runs, where a scan
  // in pid order met its time bound first on a busy host.
  // Then the parent's other children (a shell's other job, the server a test started before this
  // one). Those few are read whatever the bound.
  const parent = String(process.ppid);
  const first = [String(process.pid), ...(pids.includes(parent) ? [parent, ...childrenOf(parent).filter((p) => p !== String(process.pid) && pids.includes(p))] : [])];
  const firstSet = new Set(first);
  pids = [...first, ...pids.filter((p) => !firstSet.has(p))];
  for (const [i, pid] of pids.entries()) {
    if (i >= first.length && Date.now() > deadline) return null;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted.has(target)) {
        let command = '?';
        try {
          command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        } catch {
          /* process gone */
        }
        return { pid: Number(pid), command: command.length > 120 ? `${command.slice(0, 117)}...` : command };
      }
    }
  }
  return null;
}
