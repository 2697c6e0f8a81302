// The one owner of a single-mode process's stop signals (SIGTERM, SIGINT, SIGHUP) from its first
// boot line to its exit: one listener for each, installed once and never removed, handing each
// signal to whichever phase handles it now (booting, loading the app, serving). A phase takes the
// signals and gives them back by one assignment, so no signal finds node's default between two
// phases. Each phase installing and removing listeners of its own left two holes: a SIGTERM after
// the app's import ended and before single mode installed its graceful stop killed the process
// (exit 143, no line), and one that the loading watch had caught but not yet run when the import
// ended was lost with its listener (the server booted and served on) (findings lead.1).
import type { Logger } from 'pino';

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];
export type StopHandler = (signal: StopSignal) => void;

/** Where the listeners go (the process; a test passes an emitter). */
export interface SignalSource {
  on(signal: StopSignal, listener: (signal: StopSignal) => void): unknown;
  off(signal: StopSignal, listener: (signal: StopSignal) => void): unknown;
}

export class StopSignalOwner {
  private handler: StopHandler;
  private readonly listener = (signal: StopSignal): void => this.handler(signal);

  /** Listens at once; `handler` has the signals until a phase takes them. */
  constructor(handler: StopHandler, private readonly source: SignalSource = process as unknown as SignalSource) {
    this.handler = handler;
    for (const s of STOP_SIGNALS) source.on(s, this.listener);
  }

  /**
   * Hands the stop signals to `handler` from now on. The returned function gives them back to the
   * handler before (once; not if a later phase has taken them since).
   */
  take(handler: StopHandler): () => void {
    const before = this.handler;
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = before;
    };
  }

  /** Removes the listeners (a test; the process itself keeps them until it exits). */
  close(): void {
    for (const s of STOP_SIGNALS) this.source.off(s, this.listener);
  }
}

/**
 * The owner of a single-mode (or --preload check) process from its first boot line: until a phase
 * takes them, a stop signal ends the boot with a line saying so, and exit code 0 (a stop asked for,
 * as Puma exits on a TERM during boot).
 */
export function bootSignalOwner(log: Logger, deps: { exit?: (code: number) => void; source?: SignalSource } = {}): StopSignalOwner {
  const exit = deps.exit ?? ((code: number) => process.exit(code));
  return new StopSignalOwner((signal) => {
    log.info({ signal }, `Received ${signal} while booting (before serving): exiting before serving`);
    exit(0);
  }, deps.source);
}
