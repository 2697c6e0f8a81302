// Running out of file descriptors while accepting. When accept() fails with EMFILE, libuv closes
// its reserve descriptor, accepts and closes every pending connection, and tells node nothing
// (node's 'error' comes only for other failures), so clients get a reset and the server stays
// silent. This watch probes for a free descriptor every second and, while there is none, logs
// the documented line (throttled: 1st, 10th, 100th... probe that failed) and reports an [accept]
// dump; the line after the condition clears says serving recovered.
import { closeSync, openSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DiagnosticsHook } from './debug-hook.js';
import { Throttle } from './side-listener.js';

const OUT_OF_FDS = new Set(['EMFILE', 'ENFILE']);

/** The hint the accept line carries for EMFILE and ENFILE. */
export const FD_HINT = ' (out of file descriptors: raise `ulimit -n` (LimitNOFILE= under systemd) or lower the connection count; connections arriving meanwhile are closed unanswered)';

export interface DescriptorWatchDeps {
  readonly log: Logger;
  readonly diagnostics: DiagnosticsHook | null;
  /** Open connections now, for the line and the dump. */
  readonly connections: () => number;
  /** Opens and closes one descriptor; throws as open(2) does (replaceable in tests). */
  readonly probe?: () => void;
}

const probeDevNull = (): void => closeSync(openSync('/dev/null', 'r'));

export class DescriptorWatch {
  private readonly throttle = new Throttle();
  private timer: NodeJS.Timeout | null = null;
  /** Failed probes (or accept errors) since the descriptors last ran out. */
  private failing = 0;

  constructor(private readonly deps: DescriptorWatchDeps) {}

  start(everyMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
    const hint = OUT_OF_FDS.has(code) ? FD_HINT : '';
    this.deps.log.error({ err, code, connections, count }, `accept failed: ${code}${hint}${count > 1 ? ` (${count} times)` : ''}`);
    try {
      this.deps.diagnostics?.report(err, { phase: 'accept', context: { connections } });
    } catch (dumpErr) {
      // Out of descriptors, a dump may fail too: the line above stands, and the server keeps serving.
      this.deps.log.debug({ err: dumpErr }, 'the [accept] dump could not be made');
    }
  }
}
