// Running out of file descriptors while accepting. When accept() fails with EMFILE, libuv closes
// its reserve descriptor, accepts and closes every pending connection, and tells node nothing
// (node's 'error' comes only for other failures), so clients get a reset and the server stays
// silent. This watch probes for a free descriptor every second and, while there is none, logs
// the documented line (TSPUMA_ERR_OUT_OF_DESCRIPTORS, throttled: 1st, 10th, 100th... probe that
// failed; it names the limit and what is open, counted through a descriptor held in reserve) and
// reports an [accept] dump; the line after the condition clears says serving recovered.
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook.js';
import { TspumaError } from './errors.js';
import { Throttle } from './side-listener.js';

const OUT_OF_FDS = new Set(['EMFILE', 'ENFILE']);

/** The process's descriptors when it ran out: its soft RLIMIT_NOFILE and how many are open (null: unknown). */
export interface DescriptorCounts {
  readonly limit: number | null;
  readonly open: number | null;
}

/** The soft `Max open files` of /proc/self/limits; null for unlimited or unreadable. */
export function softFileLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
}

/**
 * The words of TSPUMA_ERR_OUT_OF_DESCRIPTORS: for EMFILE the process's limit and what fills it
 * (connections, everything else); for ENFILE the system's table.
 */
export function outOfDescriptors(errno: string, counts: DescriptorCounts, connections: number): TspumaError {
  const how = 'RLIMIT_NOFILE: `ulimit -n`, LimitNOFILE= under systemd';
  if (errno === 'ENFILE') {
    return new TspumaError('TSPUMA_ERR_OUT_OF_DESCRIPTORS', { errno, problem: `the system is out of file descriptors (its table, fs.file-max, is full); ${connections} connections open here`, advice: 'raise fs.file-max (sysctl) or find the process that holds them (ls /proc/*/fd)' });
  }
  const { limit, open } = counts;
  const problem =
    limit !== null && open !== null
      ? `this process is out of file descriptors: all ${limit} its limit allows (${how}) are open, ${connections} of them connections and ${Math.max(0, open - connections)} other descriptors (files, pipes, the listeners)`
      : `this process is out of file descriptors (its limit, ${how}, could not be read); ${connections} connections open`;
  return new TspumaError('TSPUMA_ERR_OUT_OF_DESCRIPTORS', { errno, problem, advice: 'raise the limit above the connections you expect (plus about 100) or lower the connection count' });
}

export interface DescriptorWatchDeps {
  readonly log: Logger;
  readonly diagnostics: DiagnosticsHook | null;
  /** Open connections now, for the line and the dump. */
  readonly connections: () => number;
  /** Opens and closes one descriptor; throws as open(2) does (replaceable in tests). */
  readonly probe?: () => void;
  /** The limit and the open count once none is free (replaceable in tests). */
  readonly descriptors?: () => DescriptorCounts;
}

const probeDevNull = (): void => closeSync(openSync('/dev/null', 'r'));

export class DescriptorWatch {
  private readonly throttle = new Throttle();
  private timer: NodeJS.Timeout | null = null;
  /** Failed probes (or accept errors) since the descriptors last ran out. */
  private failing = 0;
  /** One descriptor held while the watch runs: given up to count the others when none is free. */
  private reserve: number | null = null;

  constructor(private readonly deps: DescriptorWatchDeps) {}

  start(everyMs = 1000): void {
    if (this.timer) return;
    this.takeReserve();
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.reserve !== null) closeSync(this.reserve);
    this.reserve = null;
  }

  private takeReserve(): void {
    try {
      this.reserve ??= openSync('/dev/null', 'r');
    } catch {
      /* none free now: counts are read without it (they may then be unknown) */
    }
  }

  /**
   * The limit and what is open, read synchronously (no accept can take the descriptor meanwhile)
   * with the reserve given up for it, and the reserve taken back.
   */
  private counts(): DescriptorCounts {
    const held = this.reserve !== null;
    if (held) closeSync(this.reserve!);
    this.reserve = null;
    let limit: number | null = null;
    let open: number | null = null;
    try {
      limit = softFileLimit(readFileSync('/proc/self/limits', 'utf8'));
      // The listing counts its own directory descriptor, not the reserve given up for it.
      open = readdirSync('/proc/self/fd').length - 1 + (held ? 1 : 0);
    } catch {
      /* not Linux, or nothing free even so */
    }
    this.takeReserve();
    return { limit, open };
  }

  /** One probe: reports when no descriptor is free, and once when they are again. */
  check(): void {
    try {
      (this.deps.probe ?? probeDevNull)();
    } catch (err) {
      if (OUT_OF_FDS.has((err as NodeJS.ErrnoException).code ?? '')) return this.acceptFailed(err as NodeJS.ErrnoException);
      return;
    }
    if (this.failing > 0) {
      this.deps.log.warn({ connections: this.deps.connections(), failures: this.failing }, `accept recovered: file descriptors are free again (${this.failing} failed check(s) while out)`);
      this.failing = 0;
    }
  }

  /** An accept failure (node's 'error' after listen, or a probe that found no descriptor). */
  acceptFailed(err: NodeJS.ErrnoException): void {
    this.failing++;
    const code = err.code ?? err.message;
    const count = this.throttle.hit(code);
    if (count === null) return;
    const connections = this.deps.connections();
    const times = count > 1 ? ` (${count} failed checks so far)` : '';
    let reported: Error = err;
    if (OUT_OF_FDS.has(code)) {
      // The probe's error and stack are tspuma's own /dev/null open, not the failure: neither is logged.
      const counts = (this.deps.descriptors ?? (() => this.counts()))();
      reported = outOfDescriptors(code, counts, connections);
      this.deps.log.error({ code: 'TSPUMA_ERR_OUT_OF_DESCRIPTORS', errno: code, limit: counts.limit, open: counts.open, connections, count }, `${reported.message}${times}`);
    } else {
      this.deps.log.error({ err, code, connections, count }, `accept failed: ${code}${times}`);
    }
    try {
      this.deps.diagnostics?.report(reported, { phase: 'accept', context: { connections } });
    } catch (dumpErr) {
      // Out of descriptors, a dump may fail too: the line above stands, and the server keeps serving.
      this.deps.log.debug({ err: dumpErr }, 'the [accept] dump could not be made');
    }
  }
}
