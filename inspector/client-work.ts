// What a DevTools client has a process's main thread do that the process's blocked-loop warning
// names instead of the app's code (own-work.ts ClientWork): a heap snapshot, and an evaluation (its
// console, a watch expression, a snippet) that runs long. Discovery's proxy (worker-proxy.ts) and
// bridge (bridge.ts) see each client's commands and the process's answers in discovery's thread,
// which the block does not hold: one ClientWorkWatch per client connection tells as each begins (an
// evaluation once it has run LONG_EVALUATION_MS, so the many quick ones cost nothing) and ends.
import { LONG_EVALUATION_MS, type ClientWork, type ClientWorkReport } from '../server/own-work.js';

/** A client's commands that run its code in the process (bridge.ts's quiet evaluations too). */
const EVALUATIONS = new Set(['Runtime.evaluate', 'Runtime.callFunctionOn', 'Runtime.runScript']);

/**
 * What a command is, when it is work this module follows. An evaluation that awaits its promise
 * (awaitPromise: true) is not: its answer comes when the promise settles (a fetch, a timer), the
 * loop running meanwhile, so its span would name the client for any block in it, the app's own.
 */
function workOf(method: string, params?: unknown): ClientWork | null {
  if (method === 'HeapProfiler.takeHeapSnapshot') return 'heap snapshot';
  if (!EVALUATIONS.has(method)) return null;
  return (params as { awaitPromise?: unknown } | undefined)?.awaitPromise === true ? null : 'evaluation';
}

/** A client's raw message: its id and method when it is followed work, else null (parsed only when it names one). */
export function workCommand(text: string): { id: number; method: string } | null {
  if (!text.includes('"HeapProfiler.takeHeapSnapshot"') && !text.includes('"Runtime.')) return null;
  try {
    const m = JSON.parse(text) as { id?: unknown; method?: unknown; params?: unknown };
    return typeof m.id === 'number' && typeof m.method === 'string' && workOf(m.method, m.params) !== null ? { id: m.id, method: m.method } : null;
  } catch {
    return null;
  }
}

/** The id an answer of the process starts with (`{"id":N,`), from its first bytes. */
export function answerId(head: string): number | null {
  const m = /^\{"id":(\d+),/.exec(head);
  return m ? Number(m[1]) : null;
}

let connections = 0;

interface Run {
  readonly report: ClientWorkReport;
  timer: NodeJS.Timeout | null;
  told: boolean;
}

export class ClientWorkWatch {
  /** Unique in this thread's life: a report's id is this and the command's. */
  private readonly prefix = `${++connections}`;
  private readonly running = new Map<number, Run>();

  constructor(
    private readonly tell: (work: ClientWorkReport) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** A client's command on its way to the process (any command: only followed work is kept). */
  command(id: number, method: string, params?: unknown): void {
    const what = workOf(method, params);
    if (what === null || this.running.has(id)) return;
    const run: Run = { report: { id: `${this.prefix}.${id}`, what, since: this.now(), until: null }, timer: null, told: false };
    this.running.set(id, run);
    if (what === 'heap snapshot') this.begin(run);
    else (run.timer = setTimeout(() => this.begin(run), LONG_EVALUATION_MS)).unref();
  }

  /** The process answered command `id`. */
  answered(id: number): void {
    const run = this.running.get(id);
    if (!run) return;
    this.running.delete(id);
    this.end(run);
  }

  /** Whether an answer is awaited (the proxy reads an answer's id only then). */
  get waiting(): boolean {
    return this.running.size > 0;
  }

  /** The client or the process left: what ran is over. */
  closed(): void {
    for (const run of this.running.values()) this.end(run);
    this.running.clear();
  }

  private begin(run: Run): void {
    run.timer = null;
    run.told = true;
    this.tell({ ...run.report });
  }

  private end(run: Run): void {
    if (run.timer) clearTimeout(run.timer);
    if (run.told) this.tell({ ...run.report, until: this.now() });
  }
}
