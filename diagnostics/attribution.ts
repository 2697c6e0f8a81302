// The record of one app call (a request), carried through its
// async context, in which the capturer notes every throw captured while the call's work runs
// (awaits, timers, fire-and-forget promises it started) and what the app logged, so a 5xx the
// app (or its framework) answered itself can be explained by the throw behind it.
//
// Debug mode pays for this on every request, so a call that throws nothing and logs nothing
// costs one small object and two assignments (call-context.ts, not AsyncLocalStorage): no arrays
// until something is noted, no WeakMap (the record hangs off the request under a symbol), no
// closure per call, and the client's address read only when a throw is noted or a 5xx is to be
// explained.
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { CallRecord, HeldRepeat, QuietNotes, Thrown } from './call-record.js';
import { clientAddressOf } from '../server/trusted-proxy.js';
import { CallContext } from './call-context.js';

export type { CallRecord, HeldRepeat, QuietNotes, Thrown } from './call-record.js';

const MAX_KEPT = 8;
/** Longest console.error text kept as what the app said. */
const MAX_SAID = 500;

function quietOf(record: Record): QuietNotes {
  return (record.quiet ??= { seen: [] });
}
/** What an untouched record holds: shared, frozen, replaced by a real array at the first note. */
const NONE: readonly never[] = Object.freeze([]);
/** Where a request's record is kept (replaces a WeakMap: a set and a delete per request). */
const kRecord = Symbol('tspuma.callRecord');
type Recorded = IncomingMessage & { [kRecord]?: CallRecord | undefined };

class Record implements CallRecord {
  thrown: Thrown[] = NONE as never;
  logged: unknown[] = NONE as never;
  reported = false;
  remote: string | undefined = undefined;
  quiet: QuietNotes | undefined = undefined;
  sentStatus = 0;
  readonly url: string;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse | null,
  ) {
    // The socket's peer was asked for at its connection (server.ts askPeer): work that fails after
    // the client hung up still names where the request came from.
    this.url = req.url ?? '';
  }
}

/**
 * How long an error logged outside any call may be taken as that of a call closed without an
 * answer: until CLOSED_UNANSWERED_MS have passed and the event loop has turned
 * CLOSED_UNANSWERED_TURNS times, whichever comes later. Express logs such an error in a
 * setImmediate and the connection closes in the same turn of the loop, after it: a few
 * milliseconds apart, but a process that waits for a CPU on a loaded machine (or whose loop other
 * work holds) got to the close 250 ms later with no turn between, and the failure had no dump
 * (stress31.1). The time is for the other order (the close, then a log from an I/O callback).
 */
const CLOSED_UNANSWERED_MS = 250;
const CLOSED_UNANSWERED_TURNS = 3;

/** A pairing window: open from its making until CLOSED_UNANSWERED_MS have passed and the loop has turned CLOSED_UNANSWERED_TURNS times. */
class Window {
  private readonly until = Date.now() + CLOSED_UNANSWERED_MS;
  private turns = 0;

  constructor() {
    // Rare (a console.error outside any call, a response destroyed before its head): an unref'd
    // setImmediate a turn, three in all, keeps no process alive.
    const turned = () => {
      if (++this.turns < CLOSED_UNANSWERED_TURNS) setImmediate(turned).unref();
    };
    setImmediate(turned).unref();
  }

  open(now = Date.now()): boolean {
    return this.turns < CLOSED_UNANSWERED_TURNS || now <= this.until;
  }
}

export class Attribution {
  private readonly context = new CallContext<CallRecord>();
  private emitPatched: ((...args: unknown[]) => boolean) | null = null;
  private emitOriginal: ((...args: unknown[]) => boolean) | null = null;

  /**
   * @param loggedLate called when the app logs an error in the work of a call whose response has
   * already closed (settled): a failure after its response (a write after res.send()).
   * @param saidOnly called when the app logs text with no error in it (`err.message` alone): the
   * code logging may hold the error (Hono's app.onError).
   */
  constructor(
    private readonly loggedLate: (record: CallRecord) => void = () => {},
    private readonly saidOnly: (record: CallRecord) => void = () => {},
  ) {
    this.context.enable();
    this.followRequestEvents();
  }

  /** Stops following calls (the global timer functions and IncomingMessage's emit go back). */
  close(): void {
    this.context.disable();
    const proto = IncomingMessage.prototype as unknown as { emit: unknown };
    if (this.emitPatched !== null && proto.emit === this.emitPatched) proto.emit = this.emitOriginal;
    this.emitPatched = null;
  }

  /**
   * A request's own stream events ('data', 'end', 'close') run with its call current: a body
   * parser (Express's express.json(), multer, busboy) calls the app's handler from the request's
   * 'end', an I/O callback no promise or timer carries the call into. Without this, a throw there,
   * which Express answers 500 itself, had no call to explain that 500 and no dump was made.
   */
  private followRequestEvents(): void {
    const proto = IncomingMessage.prototype as unknown as { emit: (...args: unknown[]) => boolean };
    const original = proto.emit;
    const context = this.context;
    // One frame of ours under the listeners (this one), no closure and no array per event: the
    // frames app-stacks.ts takes out of stack texts, and so the spare frames it captures for them.
    // The emit called directly with the arguments as given where there are at most two after the
    // event (every event node:http emits on a request): no arguments object spread through
    // Reflect.apply (bench/README.md, session 17).
    const patched = function (this: Recorded, event: unknown, a?: unknown, b?: unknown): boolean {
      const record = this[kRecord];
      const entered = record !== undefined && context.current() === undefined;
      const before = entered ? context.enter(record) : undefined;
      try {
        switch (arguments.length) {
          case 1:
            return original.call(this, event);
          case 2:
            return original.call(this, event, a);
          case 3:
            return original.call(this, event, a, b);
          default:
            // eslint-disable-next-line prefer-rest-params
            return Reflect.apply(original, this, arguments) as boolean;
        }
      } finally {
        if (entered) context.leave(before);
      }
    };
    proto.emit = patched;
    this.emitOriginal = original;
    this.emitPatched = patched;
  }

  /**
   * Makes the app call for req current: the work it starts carries its record (call-context.ts).
   * The caller calls the app itself and then leave(), in a finally, with what this returned.
   */
  enter(req: IncomingMessage, res: ServerResponse | null): CallRecord | undefined {
    const record = new Record(req, res);
    (req as Recorded)[kRecord] = record;
    return this.context.enter(record);
  }

  leave(before: CallRecord | undefined): void {
    this.context.leave(before);
  }

  /** The record of the call whose work is running now (also while V8 is paused). */
  current(): CallRecord | undefined {
    return this.context.current();
  }

  of(req: IncomingMessage): CallRecord | undefined {
    return (req as Recorded)[kRecord];
  }

  forget(req: IncomingMessage): void {
    // Set, not deleted: a delete would turn every request object into a slow dictionary.
    if ((req as Recorded)[kRecord] !== undefined) (req as Recorded)[kRecord] = undefined;
  }

  /**
   * A call whose response was destroyed before its head (a stream piped into it failed): the
   * error behind it is often logged from an I/O callback no call context reaches (pipeline's
   * callback after a failed fs read, then Express's next(err)), just before or just after the
   * close. Within a Window either way, an error logged outside any call is taken as this call's,
   * when it is the only call so closed that has no error yet.
   */
  closedWithoutAnswer(record: CallRecord): void {
    const before = this.unanswered;
    // A call closed just before that already holds its error is not this one's rival for the next.
    const rivals = before !== null && before.window.open() && before.record.logged.length === 0 ? before.count : 0;
    this.unanswered = { record: record as Record, window: new Window(), count: rivals + 1 };
    const orphan = this.orphan;
    this.orphan = null;
    if (orphan !== null && orphan.window.open() && this.unanswered.count === 1) {
      const r = record as Record;
      r.logged = [...r.logged, ...orphan.logged];
    }
  }

  private unanswered: { record: Record; window: Window; count: number } | null = null;
  /** The errors of the last console.error outside any call, for a call that closes unanswered just after. */
  private orphan: { logged: unknown[]; window: Window } | null = null;

  /**
   * The call closed without an answer that an error logged now, outside any call, is taken for:
   * none once it holds an error (the one behind it; a later one is another call's, whose response
   * may close next), nor when two such calls closed within the window.
   */
  private closedUnanswered(): Record | undefined {
    const u = this.unanswered;
    if (u === null) return undefined;
    if (!u.window.open()) {
      this.unanswered = null;
      return undefined;
    }
    return u.count === 1 && u.record.logged.length === 0 ? u.record : undefined;
  }

  /** Reads the client's address into the record while the socket is still open. */
  keepRemote(record: CallRecord): void {
    if (record.remote === undefined) record.remote = clientAddressOf(record.req);
  }

  noteThrown(record: CallRecord, thrown: Thrown): void {
    const r = record as Record;
    if (r.thrown.length === 0) r.thrown = [];
    else if (r.thrown.length >= MAX_KEPT) r.thrown.shift();
    r.thrown.push(thrown);
    this.keepRemote(r);
  }

  /**
   * console.error's arguments, when called inside an app call: errors and stack texts are kept;
   * a line with neither (`err.message` alone) is kept as what the app said, the last one only.
   */
  noteLogged(args: unknown[]): void {
    const record = (this.context.current() ?? this.closedUnanswered()) as Record | undefined;
    if (!record) {
      const logged = args.filter((a) => a instanceof Error || (typeof a === 'string' && /\n\s+at \S/.test(a)));
      if (logged.length > 0) this.orphan = { logged: logged.slice(-MAX_KEPT), window: new Window() };
      return;
    }
    let kept = false;
    for (const a of args) {
      const keep = a instanceof Error || (typeof a === 'string' && /\n\s+at \S/.test(a));
      if (!keep) continue;
      kept = true;
      if (record.logged.length === 0) record.logged = [];
      else if (record.logged.length >= MAX_KEPT) record.logged.shift();
      record.logged.push(a);
    }
    if (kept && (record.req as Recorded)[kRecord] !== record) this.loggedLate(record);
    if (!kept && args.length > 0) {
      quietOf(record).said = args.map((a) => (typeof a === 'string' ? a : typeof a === 'object' && a !== null ? '[object]' : String(a))).join(' ').slice(0, MAX_SAID);
      this.saidOnly(record);
    }
  }

  /** An error thrown in the call's work that V8 paused at with no app frame on the stack (not captured). */
  noteSeen(record: CallRecord, value: unknown): void {
    const seen = quietOf(record as Record).seen;
    if (seen.length >= MAX_KEPT) seen.shift();
    seen.push(value);
  }

  /** The error an app frame held as the call's 5xx head was written, and where that frame answered. */
  noteHeld(record: CallRecord, value: unknown, at: string | null): void {
    quietOf(record as Record).held = { value, at };
  }

  /** No look made: the call's 5xx is taken as a repeat of `of`, the muted site the last look at its answering frame found. */
  noteHeldRepeat(record: CallRecord, of: HeldRepeat): void {
    quietOf(record as Record).held = { of };
  }

  /** A look for a held error in the call was skipped (looks over their rate). */
  noteUnlooked(record: CallRecord): void {
    quietOf(record as Record).unlooked = true;
  }
}
