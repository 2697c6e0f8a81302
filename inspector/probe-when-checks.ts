// A probe's `--when`, where V8 would evaluate it unchecked or a compiled gate could not decide
// it: checked at its first pass in each worker with V8's side-effect check (a condition that
// would write removes the probe before it ever ran; one that throws is reported once, and removed
// when it can never be read at its line), then evaluated checked where the gate met a getter.
import type { Logger } from 'pino';
import { TspumaError } from '../server/errors.js';
import type { ProbeSpec } from '../server/probe-spec.js';
import { REQUEST_FRAMES, SIDE_EFFECT, sourceName, type FrameReads, type PausedFrame } from './probe-frame-reads.js';

/** A condition's error that it throws at every pass at its line (a name not in scope or in its TDZ). */
const UNREADABLE = /^ReferenceError\b/;
/** The most names in scope a TSPUMA_ERR_PROBE_WHEN_THROWS message lists. */
const SCOPE_NAMES = 24;

/** What the checks need from the engine. */
export interface WhenChecksHost<A, S> {
  reads: FrameReads;
  log: Logger;
  worker: number;
  /** The expression with the bindings renamed as the compiled code at the site names them. */
  compiledNames(site: S, top: PausedFrame, expr: string): string;
  /** The site's breakpoint set again (its probes' conditions changed). */
  rearm(site: S): void;
  /** A condition that would write: the probe is removed (TSPUMA_ERR_PROBE_SIDE_EFFECT). */
  sideEffect(armed: A, what: string, expression: string, message: string): void;
  /** A condition that can never be read at its line: the probe is removed with this error. */
  removed(armed: A, err: TspumaError): void;
}

export class WhenChecks<A extends { spec: ProbeSpec; where: string; whenAt: Map<string, string> }, S extends { key: string }> {
  constructor(private readonly host: WhenChecksHost<A, S>) {}

  /**
   * Once per probe and worker, before V8 ever evaluates `when` unchecked: evaluates it with the
   * side-effect check at the first pass. One that would write removes the probe (it never ran);
   * else the breakpoint gets `when` in its condition from now on. Returns whether it held.
   */
  check(armed: A, site: S, top: PausedFrame, frames: PausedFrame[] = [top]): boolean {
    const callFrameId = top.callFrameId;
    const when = this.host.compiledNames(site, top, armed.spec.when!);
    const expression = `!!(${when}\n)`;
    let r = this.host.reads.evaluate(callFrameId, expression);
    let message = r.exceptionDetails?.exception?.description?.split('\n')[0] ?? '';
    if (SIDE_EFFECT.test(message) && this.host.reads.onlyRequestReads(callFrameId, when)) {
      r = this.host.reads.evaluate(callFrameId, expression, false);
      message = '';
    }
    if (SIDE_EFFECT.test(message)) {
      this.host.sideEffect(armed, 'condition', armed.spec.when!, message);
      return false;
    }
    // A name the condition reads that is not in scope at the line (a typo, another function's
    // local) or not initialized yet (a const declared on this line or below) throws at every pass:
    // as V8 takes it, false for ever, so the probe would be armed and silent.
    if (UNREADABLE.test(message)) {
      this.throws(armed, top, message, true, frames);
      return false;
    }
    const thrown = r.exceptionDetails ? message : r.result.subtype === 'error' ? (r.result.description ?? '').split('\n')[0]! : '';
    if (thrown) this.throws(armed, top, thrown, false);
    armed.whenAt.set(site.key, when);
    this.host.rearm(site);
    // As V8 takes a condition: one that throws is false.
    return !r.exceptionDetails && r.result.value === true;
  }

  /**
   * A compiled `--when` that could not decide at this pass: the first time at this place, the
   * first-pass check (check: a write removes the probe, a name not in scope too, another error
   * is reported once); later, V8 evaluates the source with its side-effect check, and an error is false.
   */
  decide(armed: A, site: S, top: PausedFrame, frames: PausedFrame[]): boolean {
    const when = armed.whenAt.get(site.key);
    if (when === undefined) return this.check(armed, site, top, frames);
    const expression = `!!(${when}\n)`;
    let r = this.host.reads.evaluate(top.callFrameId, expression);
    const message = r.exceptionDetails?.exception?.description?.split('\n')[0] ?? '';
    if (SIDE_EFFECT.test(message) && this.host.reads.onlyRequestReads(top.callFrameId, when)) r = this.host.reads.evaluate(top.callFrameId, expression, false);
    else if (SIDE_EFFECT.test(message)) {
      this.host.sideEffect(armed, 'condition', armed.spec.when!, message);
      return false;
    } else if (UNREADABLE.test(message)) {
      this.throws(armed, top, message, true, frames);
      return false;
    }
    return !r.exceptionDetails && r.result.value === true;
  }

  /**
   * A `when` that threw at its first pass, logged once per worker with the names it could read:
   * one that cannot be read at its line (a ReferenceError) is removed everywhere; another error
   * (a TypeError on a value that may be set at other passes) leaves the probe, false at that pass.
   */
  private throws(armed: A, top: PausedFrame, message: string, remove: boolean, frames: PausedFrame[] = [top]): void {
    const namesOf = (frame: PausedFrame): string[] => this.host.reads.scopeNames(frame);
    const names = namesOf(top);
    // A name of a function further up the stack that this one (a callback) does not use: V8 keeps
    // no copy of it in this function's scope, so it is not "not in scope" in the source's sense.
    const missing = /^ReferenceError: (\S+) is not defined/.exec(message)?.[1];
    const owner = missing ? frames.slice(1, REQUEST_FRAMES).find((f) => namesOf(f).includes(missing)) : undefined;
    const shown = names.slice(0, SCOPE_NAMES);
    const inScope = names.length === 0 ? 'none' : `${shown.join(', ')}${names.length > shown.length ? `, … (${names.length - shown.length} more)` : ''}`;
    const tdz = 'a name declared on this line or below it is not set yet when the line starts (V8 reads it as undefined): probe the line after its declaration';
    // In scope but in its TDZ: V8's debug-evaluate says "Cannot access 'q' from debugger" (as under -d).
    const unset = /^ReferenceError: Cannot access '([^']+)' (?:from debugger|before initialization)/.exec(message)?.[1];
    const what = remove && owner
      ? `removed: \`${missing}\` is a name of a function further up the stack (${sourceName(owner) || 'anonymous'}), which this function does not use, so V8 keeps no copy of it here; probe a line of that function, or use the name in this one`
      : remove && unset !== undefined
      ? `removed: \`${unset}\` is declared on this line or below it and is not set yet when the line starts, so the condition would throw at every pass (V8 takes that as false): probe the line after its declaration`
      : remove
      ? 'removed: it reads a name that is not in scope at this line, so it would throw at every pass, and V8 takes a condition that throws as false'
      : `kept, false at each pass where it throws (as V8 takes a condition that throws); if ${tdz}`;
    const err = new TspumaError('TSPUMA_ERR_PROBE_WHEN_THROWS', { id: armed.spec.id, location: armed.where, worker: this.host.worker, when: armed.spec.when, message, what, names: inScope });
    this.host.log.warn({ probe: armed.spec.id, code: err.code }, err.message);
    if (remove) this.host.removed(armed, err);
  }
}
