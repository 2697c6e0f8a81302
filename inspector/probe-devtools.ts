// What a DevTools client attached through discovery has asked of a process's debugger that a
// probe must leave to it: its breakpoints (where, on what condition, whether active) and a step
// or pause it asked for. A worker's probes cannot see another session's breakpoints (V8 tells each
// session of its own only), and a probe that resumed every pause its breakpoint was part of ended
// a DevTools user's pause on that line, and every step onto it (findings P6, P10). So the proxy
// to a worker's inspector (worker-proxy.ts) and the bridge to the main thread (bridge.ts) watch
// the client's commands and the answers, and write that state into the debugged process, through
// the same connection, as an evaluation that runs before the client's next command does; the probe
// engine reads it at its pause (clientWants) and leaves a pause the client asked for to it.
// A client attached to a worker's inspector port directly, not through discovery, is not seen.

/** The global (a symbol) holding each watched client's state in the debugged process. */
const KEY = 'tspuma.devtools.clients';

/** A client's state as the debugged process keeps it. */
export interface ClientState {
  /** Debugger.setBreakpointsActive. */
  active: boolean;
  /** The client asked for a step or a pause: the next pause is its own. */
  step: boolean;
  /** Its breakpoints' resolved locations, with their conditions. */
  breakpoints: { scriptId: string; lineNumber: number; columnNumber: number; condition: string }[];
}

/** Commands whose answer tells where a breakpoint is. */
const SETS = new Set(['Debugger.setBreakpointByUrl', 'Debugger.setBreakpoint']);
/** Commands after which the next pause is the client's. */
const STEPS = new Set(['Debugger.stepOver', 'Debugger.stepInto', 'Debugger.stepOut', 'Debugger.pause', 'Debugger.continueToLocation']);
/** Commands the watch reads (a message naming none of them is not parsed). */
const WATCHED = /"Debugger\.(?:setBreakpointByUrl|setBreakpoint|removeBreakpoint|setBreakpointsActive|step(?:Over|Into|Out)|pause|continueToLocation|disable)"/;

let clients = 0;

/**
 * One client's watch. `inject(expression)` evaluates an expression in the debugged process
 * through the client's own connection, before the client's command that caused it is passed on.
 */
export class ClientWatch {
  private readonly key = `${process.pid}-${++clients}`;
  private readonly pending = new Map<number, { method: string; condition: string }>();
  /** Breakpoint id -> its condition and resolved locations. */
  private readonly breakpoints = new Map<string, { condition: string; locations: { scriptId: string; lineNumber: number; columnNumber: number }[] }>();
  private active = true;
  private step = false;
  /** The last state written, and how many times in a row its write failed. */
  private last = '';
  private failed = 0;

  constructor(private readonly inject: (expression: string) => void) {}

  /** Whether a raw client message may matter (cheap: no parse). */
  static watched(text: string): boolean {
    return WATCHED.test(text);
  }

  /** A client's command, before it is passed on. */
  command(id: number, method: string, params: Record<string, unknown>): void {
    if (SETS.has(method)) this.pending.set(id, { method, condition: typeof params.condition === 'string' ? params.condition : '' });
    else if (method === 'Debugger.removeBreakpoint' && typeof params.breakpointId === 'string') {
      if (this.breakpoints.delete(params.breakpointId)) this.write();
    } else if (method === 'Debugger.setBreakpointsActive') {
      this.active = params.active !== false;
      this.write();
    } else if (STEPS.has(method)) {
      this.step = true;
      this.write();
    } else if (method === 'Debugger.disable') {
      this.breakpoints.clear();
      this.step = false;
      this.write();
    }
  }

  /** Whether an answer with this id is one the watch waits for. */
  waitsFor(id: number): boolean {
    return this.pending.has(id);
  }

  /** The answer to a command (its result; undefined for an error). */
  answer(id: number, result: unknown): void {
    const asked = this.pending.get(id);
    if (!asked) return;
    this.pending.delete(id);
    const r = (result ?? {}) as { breakpointId?: unknown; locations?: unknown; actualLocation?: unknown };
    if (typeof r.breakpointId !== 'string') return;
    const locations = Array.isArray(r.locations) ? r.locations : r.actualLocation ? [r.actualLocation] : [];
    this.breakpoints.set(r.breakpointId, { condition: asked.condition, locations: locations.flatMap(location) });
    this.write();
  }

  /** An event from the debugged process. */
  event(method: string, params: unknown): void {
    if (method === 'Debugger.paused' && this.step) {
      // The step's pause: the engine read the flag in its handler, before this is evaluated.
      this.step = false;
      this.write();
    } else if (method === 'Debugger.breakpointResolved') {
      const p = (params ?? {}) as { breakpointId?: unknown; location?: unknown };
      const bp = typeof p.breakpointId === 'string' ? this.breakpoints.get(p.breakpointId) : undefined;
      if (!bp) return;
      bp.locations.push(...location(p.location));
      this.write();
    }
  }

  /** The client left: its state goes (call before its connection closes, where it can). */
  closed(): void {
    if (this.last === '') return;
    this.send(`(() => { const all = globalThis[Symbol.for(${JSON.stringify(KEY)})]; if (all) delete all[${JSON.stringify(this.key)}]; })()`);
  }

  /**
   * The answer to one of the watch's own evaluations: one that threw (it was dispatched inside a
   * probe's side-effect-checked evaluation, where a write is refused) is sent again, a few times.
   */
  injected(threw: boolean): void {
    if (!threw) {
      this.failed = 0;
      return;
    }
    if (++this.failed > 5 || this.last === '') return;
    const expression = this.last;
    setTimeout(() => {
      if (this.last === expression) this.send(expression);
    }, 20 * this.failed).unref();
  }

  private write(): void {
    const state: ClientState = { active: this.active, step: this.step, breakpoints: [...this.breakpoints.values()].flatMap((b) => b.locations.map((l) => ({ ...l, condition: b.condition }))) };
    this.send(`(() => { const k = Symbol.for(${JSON.stringify(KEY)}); (globalThis[k] ??= {})[${JSON.stringify(this.key)}] = ${JSON.stringify(state)}; })()`);
  }

  private send(expression: string): void {
    this.last = expression;
    this.inject(expression);
  }
}

function location(l: unknown): { scriptId: string; lineNumber: number; columnNumber: number }[] {
  const x = (l ?? {}) as { scriptId?: unknown; lineNumber?: unknown; columnNumber?: unknown };
  return typeof x.scriptId === 'string' && typeof x.lineNumber === 'number' ? [{ scriptId: x.scriptId, lineNumber: x.lineNumber, columnNumber: typeof x.columnNumber === 'number' ? x.columnNumber : 0 }] : [];
}

/**
 * In the debugged process, at a pause: whether a watched client asked for it (a step or pause it
 * asked for, or an active breakpoint of its at the top frame's place whose condition `holds`).
 * Every client's step is taken: a step asks for one pause.
 */
export function clientWants(at: { scriptId: string; lineNumber: number; columnNumber: number } | undefined, holds: (condition: string) => boolean): boolean {
  const all = (globalThis as Record<symbol, Record<string, ClientState> | undefined>)[Symbol.for(KEY)];
  if (!all) return false;
  let wants = false;
  for (const c of Object.values(all)) {
    if (c.step) {
      c.step = false;
      wants = true;
    }
  }
  if (wants || !at) return wants;
  for (const c of Object.values(all)) {
    if (!c.active) continue;
    for (const b of c.breakpoints) {
      if (b.scriptId === at.scriptId && b.lineNumber === at.lineNumber && b.columnNumber === at.columnNumber && (b.condition.trim() === '' || holds(b.condition))) return true;
    }
  }
  return false;
}

/**
 * A message from the debugged process to the client, for the watch: 'drop' for the answer to one
 * of its own injections (a negative id, never the client's), else 'pass' (read first when it is an
 * answer it waits for or an event it follows). `head` is the message's start; `text()` the whole.
 */
export function fromProcess(watch: ClientWatch, head: string, text: () => string): 'drop' | 'pass' {
  if (head.startsWith('{"id":-')) {
    watch.injected(text().includes('"exceptionDetails"'));
    return 'drop';
  }
  const id = /^\{"id":(\d+),/.exec(head);
  const event = /^\{"method":"(Debugger\.(?:paused|breakpointResolved))"/.exec(head);
  if ((id && watch.waitsFor(Number(id[1]))) || event) {
    try {
      const m = JSON.parse(text()) as { id?: number; result?: unknown; method?: string; params?: unknown };
      if (typeof m.id === 'number') watch.answer(m.id, m.result);
      else if (typeof m.method === 'string') watch.event(m.method, m.params);
    } catch {
      /* not the protocol's: passed on as it is */
    }
  }
  return 'pass';
}

/** A client's raw message, for the watch (parsed only when it names a command the watch follows). */
export function fromClient(watch: ClientWatch, text: string): void {
  if (!ClientWatch.watched(text)) return;
  try {
    const m = JSON.parse(text) as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof m.id === 'number' && typeof m.method === 'string') watch.command(m.id, m.method, (m.params ?? {}) as Record<string, unknown>);
  } catch {
    /* the inspector answers a malformed message itself */
  }
}
