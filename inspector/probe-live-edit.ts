// Live edit (probeLiveEdit): a probe's gate, and its `--when` where that compiles, put into the
// script's source with V8's Debugger.setScriptSource instead of a breakpoint, where that is sound;
// the source given back RESTORE_AFTER_MS after the last removal in the script (one edit for the
// removals of that spell, none when the process stops first, none when a probe is set again at the
// line), retried while V8 refuses (a function of the script running or waiting at an await). The
// text of a guard and where it goes: probe-edits.ts.
import type { Logger } from 'pino';
import { PROBE_GATE_KEY, parseTemplate, type ProbeSpec } from '../server/probe-spec.js';
import { debuggerColumn, guardPlace, guardText, withGuards, type GuardPlace } from './probe-edits.js';
import type { LoadedScript } from './probe-locations.js';
import { compileWhen } from './probe-when-compile.js';

/** A place a probe is armed, as live edit needs it (the engine's Site). */
export interface EditSite {
  scriptId: string;
  location: { lineNumber: number; columnNumber: number };
  /**
   * Armed by live edit (no breakpoint): its guard's number, place, text, and the column of its
   * `debugger`; `ids`: the probes whose `--when` (or none) is compiled into it, null for the plain
   * gate (every probe there has no `--when`).
   */
  edit: { n: number; place: GuardPlace; ms: number; text: string; column: number; ids: ReadonlySet<number> | null; templates?: ReadonlySet<number>; reused?: boolean } | null;
  /** Why live edit was not tried here (a script over its bound), for the set answer. */
  noEdit?: string;
}

/** What live edit needs from the engine. */
export interface LiveEditHost {
  post<T = unknown>(method: string, params?: object): T;
  log: Logger;
  /** probeLiveEdit. */
  liveEdit: boolean;
  devtoolsMayAttach(): boolean;
  /** The thread is paused at a probe now / a script just parsed is being armed (no edit then). */
  pausedNow(): boolean;
  parsing(): boolean;
  closed(): boolean;
  scripts: ReadonlyMap<string, LoadedScript>;
  scriptSource(scriptId: string): string | null;
  /** V8 took an edit of the script: it dropped the breakpoints in the functions the edit changed. */
  edited(scriptId: string): void;
  /** RESTORE_AFTER_MS, unless a test sets another. */
  restoreAfterMs?: number;
}

/** A guard a removed probe left in the code, its gate answering no, until the script's next edit. */
interface LeftGuard {
  n: number;
  place: GuardPlace;
  text: string;
  column: number;
}

/** A script edited by live edit: its source as loaded, and the sites whose guards it has. */
interface Edited<S> {
  original: string;
  sites: Set<S>;
  /** Guards of removed probes still in the code, by offset: the script's next edit leaves them out. */
  left: Map<number, LeftGuard>;
  /** Its guards and the source disagree (guards left): the source is set again from `restoreAt` (performance.now()) on. */
  stale: boolean;
  restoreAt: number;
}

/**
 * How long a removed probe's guard stays in the code (its gate answering no: a typeof, a call and a
 * Map lookup a pass) before the script is given its source back. Each edit has V8 recompile the
 * script and walk the heap (tens to hundreds of ms of the thread: bench/README.md), so a removal
 * does not edit at once: removals within this time of each other share one edit, a probe set again
 * at the same line takes the guard over with none, a probe set at another line of the script leaves
 * the old guard out of its own edit, and a process that stops before it (a test's server, a deploy)
 * makes none. After it the code is the app's own again, as if no probe had been set.
 */
export const RESTORE_AFTER_MS = 5_000;

/**
 * Guard numbers, never reused in this process: a guard V8 would not let a closed engine take out
 * (probe-edits.ts) keeps its number, and a later engine's gate must not take it for one of its own.
 */
let nextGuard = 1;
/**
 * Scripts this process has live-edited (ids are the isolate's, the same in every session). V8
 * keeps the source before each edit as a script of its own with the same URL, which a session
 * opened later (a worker's next engine, once its last probe was removed) is told of beside the
 * live one: those are not armed (see replaced()).
 */
const editedScripts = new Set<string>();

/**
 * Live edit's bound: V8 recompiles the whole script at an edit (and at the restore), with the
 * thread held, at a cost that grows faster than the script (measured here on Node 20, scripts of
 * 4-line functions: 63 KB / 1,000 functions 47 ms, 128 KB / 2,000 87 ms, 258 KB / 4,000 289 ms,
 * 648 KB 7.2 s, 2.6 MB minutes). Over either figure the probe keeps its breakpoint.
 */
const EDIT_MAX_BYTES = 100_000;
const EDIT_MAX_FUNCTIONS = 1500;

/** Why a script is too large to edit live, or null. (`function` and `=>` counted in the text: a count on the safe side.) */
function overEditBound(source: string): string | null {
  const functions = source.match(/\bfunction\b|=>/g)?.length ?? 0;
  if (source.length <= EDIT_MAX_BYTES && functions <= EDIT_MAX_FUNCTIONS) return null;
  return `the script is ${Math.round(source.length / 1000)} KB with ${functions} functions, over live edit's bound of ${EDIT_MAX_BYTES / 1000} KB or ${EDIT_MAX_FUNCTIONS} functions, which keeps an edit under ~100 ms`;
}

export class LiveEdits<S extends EditSite> {
  /** Sites by guard number. */
  readonly guarded = new Map<number, S>();
  /** Scripts edited now, by id. */
  private readonly edited = new Map<string, Edited<S>>();
  private editRetry: NodeJS.Timeout | null = null;

  constructor(private readonly host: LiveEditHost) {}

  /** Guards of removed probes V8 has not let out of the app's code yet (a function was waiting at an await). */
  get pending(): boolean {
    return [...this.edited.values()].some((e) => e.stale);
  }

  /** A script's source as loaded, when it is edited now (its guards are not in it), else null. */
  original(scriptId: string): string | null {
    return this.edited.get(scriptId)?.original ?? null;
  }

  /** Whether a pause is at the `debugger` of a guard in the code now. */
  atGuard(at: { scriptId: string; lineNumber: number; columnNumber: number }): boolean {
    for (const e of this.edited.values()) for (const s of e.sites) if (s.scriptId === at.scriptId && s.edit?.place.line === at.lineNumber && s.edit.column === at.columnNumber) return true;
    return false;
  }

  /**
   * The engine closes: restores stop; guards still in the code are taken out now where V8 lets it,
   * unless the process is stopping (`restore` false: the code goes with it, and an edit would only
   * hold its exit up).
   */
  close(restore = true): void {
    if (this.editRetry) clearTimeout(this.editRetry);
    this.editRetry = null;
    if (restore) for (const [scriptId, e] of this.edited) if (e.stale) this.applyEdits(scriptId, e);
  }

  /**
   * Arms the site by live edit when that is sound: each probe there has no column and is not
   * replay's, and its `--when`, if any, compiles (probe-when-compile.ts: a subset that cannot run
   * the app's code, so V8's side-effect check is not needed); no DevTools can attach here; a guard
   * fits before its statement (probe-edits.ts); and V8 takes the edit (it refuses one while the
   * function runs or waits at an await). Else false: a breakpoint, and `noEdit` says why.
   */
  guard(site: S, probes: readonly { spec: ProbeSpec }[]): boolean {
    site.noEdit = undefined;
    if (!probes.every((p) => (p.spec.column ?? null) === null && p.spec.kind !== 'break')) {
      this.unguard(site);
      return false;
    }
    // A guard already in the code that answers for each probe here stays (one it has and that is gone answers no).
    const edit = site.edit;
    // A logpoint with no --when gets its template compiled into the guard where every expression
    // compiles there: a hit writes its line with no pause (probe-gates.ts templatePass/templateGate).
    const templated = (p: { spec: ProbeSpec }) => p.spec.kind === 'log' && p.spec.when === null && p.spec.template !== null;
    if (edit && probes.every((p) => (edit.ids === null ? p.spec.when === null && !templated(p) : edit.ids.has(p.spec.id)))) return true;
    const conditional = probes.some((p) => p.spec.when !== null || templated(p));
    const keep = (why: string | null): false => {
      if (why !== null && (probes.some((p) => p.spec.when !== null) || why.startsWith('the script is'))) site.noEdit = why;
      if (site.edit) this.unguard(site);
      return false;
    };
    if (!this.host.liveEdit) return keep('live edit is off (probeLiveEdit: false)');
    if (this.host.devtoolsMayAttach()) return keep('DevTools may attach to this process (inspect), and V8 drops a client\'s breakpoints in a function a live edit changes');
    const script = this.host.scripts.get(site.scriptId);
    const entry = this.edited.get(site.scriptId);
    const original = entry?.original ?? this.host.scriptSource(site.scriptId);
    if (!script || original === null) return keep('the script\'s source could not be read');
    const over = overEditBound(original);
    if (over) return keep(over);
    const place = edit?.place ?? guardPlace(original, script.isModule === true, site.location.lineNumber, site.location.columnNumber, nextGuard);
    if (!place) return keep('no place for a gate right before the probed statement (it is not the first on its line in a block, or a comment or other code is between it and the statement before)');
    // The plain gate a removed probe left at this place: taken over, no edit (its number is this site's now).
    const left = entry?.left.get(place.offset);
    if (entry && left && !edit && !conditional && left.text === guardText(left.n)) {
      site.edit = { n: left.n, place: left.place, ms: 0, text: left.text, column: left.column, ids: null, reused: true };
      entry.sites.add(site);
      entry.left.delete(place.offset);
      if (entry.left.size === 0) entry.stale = false;
      this.guarded.set(left.n, site);
      return true;
    }
    // Not while paused (V8 would recompile the script with the thread held), nor in a script parsed but not run yet (P8).
    if (this.host.pausedNow()) return keep('set while the thread was paused at a probe');
    if (this.host.parsing()) return keep('armed as its file was parsed, before its code ran, when V8 cannot take a live edit');
    const n = edit?.n ?? nextGuard++;
    let text = guardText(n);
    let ids: Set<number> | null = null;
    const templates = new Set<number>();
    if (conditional) {
      const checks: string[] = [];
      for (const p of probes) {
        if (p.spec.when === null) {
          const values = templated(p) ? compileTemplate(p.spec.template!, place.scope) : null;
          if (values !== null) templates.add(p.spec.id);
          checks.push(values !== null ? `(${PROBE_GATE_KEY}.a(${n},${p.spec.id})&&${PROBE_GATE_KEY}.t(${n},${p.spec.id},[${values.join(',')}]))` : `${PROBE_GATE_KEY}.w(${n},${p.spec.id},1)`);
          continue;
        }
        const compiled = compileWhen(p.spec.when, place.scope, { gate: PROBE_GATE_KEY });
        if (!compiled.ok) return keep(p.spec.id === probes.find((q) => q.spec.when !== null)?.spec.id ? `its --when is not compiled: ${compiled.reason}` : `the --when of probe ${p.spec.id} there is not compiled: ${compiled.reason}`);
        checks.push(`${PROBE_GATE_KEY}.w(${n},${p.spec.id},${compiled.code})`);
      }
      text = guardText(n, checks.join('|'));
      ids = new Set(probes.map((p) => p.spec.id));
    }
    const e = entry ?? { original, sites: new Set<S>(), left: new Map<number, LeftGuard>(), stale: false, restoreAt: 0 };
    site.edit = { n, place, ms: 0, text, column: debuggerColumn(place, text), ids, ...(templates.size > 0 ? { templates } : {}) };
    e.sites.add(site);
    const started = performance.now();
    const applied = this.applyEdits(site.scriptId, e);
    site.edit.ms = Math.round((performance.now() - started) * 10) / 10;
    if (!applied) {
      // The code keeps the guard it had (if any), which does not answer for every probe here: it goes.
      site.edit = edit;
      if (!edit) e.sites.delete(site);
      return keep('V8 refused the live edit (a function of the script was running or waiting at an await)');
    }
    this.edited.set(site.scriptId, e);
    this.guarded.set(n, site);
    return true;
  }

  /**
   * The site's guard goes: its gate answers false at once; it stays in the code until the script's
   * next edit, at the latest RESTORE_AFTER_MS after the script's last removal (retried while V8 refuses).
   */
  unguard(site: S): void {
    const edit = site.edit;
    if (!edit) return;
    this.guarded.delete(edit.n);
    const e = this.edited.get(site.scriptId);
    site.edit = null;
    if (!e) return;
    e.sites.delete(site);
    e.left.set(edit.place.offset, { n: edit.n, place: edit.place, text: edit.text, column: edit.column });
    // With DevTools able to attach, a guard whose gate is off stays: an edit would drop the client's breakpoints there.
    if (this.host.devtoolsMayAttach()) return;
    this.restoreLater(e, this.host.restoreAfterMs ?? RESTORE_AFTER_MS);
  }

  /** Sets the script's source to its original with the guards of its sites; true when V8 took it. */
  private applyEdits(scriptId: string, e: Edited<S>): boolean {
    const text = withGuards(e.original, [...e.sites].map((s) => ({ offset: s.edit!.place.offset, n: s.edit!.n, text: s.edit!.text })));
    let status: string;
    editedScripts.add(scriptId);
    try {
      status = this.host.post<{ status: string }>('Debugger.setScriptSource', { scriptId, scriptSource: text }).status;
    } catch (err) {
      status = (err as Error).message;
    }
    if (status !== 'Ok') {
      this.host.log.debug({ scriptId, status }, `Probes: V8 refused a live edit of ${this.host.scripts.get(scriptId)?.url ?? scriptId}: ${status}`);
      return false;
    }
    e.stale = false;
    e.left.clear();
    if (e.sites.size === 0) this.edited.delete(scriptId);
    // V8 drops the breakpoints in the functions an edit changed: the other probes' here are set again.
    this.host.edited(scriptId);
    return true;
  }

  /**
   * The script's source set again (without its left guards) `ms` from now, or later if another
   * removal comes first; retried each second while V8 refuses (a function of it running or waiting
   * at an await) or the thread is paused (V8 would recompile the script with it held).
   */
  private restoreLater(e: Edited<S>, ms: number): void {
    e.stale = true;
    e.restoreAt = performance.now() + ms;
    this.schedule();
  }

  private schedule(): void {
    if (this.editRetry) clearTimeout(this.editRetry);
    this.editRetry = null;
    if (this.host.closed()) return;
    let next = Infinity;
    for (const e of this.edited.values()) if (e.stale) next = Math.min(next, e.restoreAt);
    if (next === Infinity) return;
    this.editRetry = setTimeout(() => {
      this.editRetry = null;
      if (this.host.closed()) return;
      const now = performance.now();
      for (const [scriptId, e] of [...this.edited]) {
        if (!e.stale || e.restoreAt > now) continue;
        // DevTools became able to attach since the removal: the guards stay, inert (an edit would drop a client's breakpoints).
        if (this.host.devtoolsMayAttach()) e.stale = false;
        else if (this.host.pausedNow() || !this.applyEdits(scriptId, e)) e.restoreAt = now + 1000;
      }
      this.schedule();
    }, Math.max(0, next - performance.now())).unref();
  }

  /**
   * A script a live edit replaced: one of its URL was edited in this process, and an older one of
   * that URL exists (V8 keeps the source before each edit as a script of its own, under a new id:
   * the edited script keeps its id, the lowest of its URL, and is the one that runs). Arming it
   * would put breakpoints and edits into code that no longer runs, each edit making one more such
   * script (a worker that had probes set and removed a few times then took seconds per probe, and
   * its snapshot probe waited for a hit that never came).
   */
  replaced(script: LoadedScript): boolean {
    let edited = editedScripts.has(script.scriptId);
    let older = false;
    for (const s of this.host.scripts.values()) {
      if (s === script || s.url !== script.url) continue;
      if (editedScripts.has(s.scriptId)) edited = true;
      if (Number(s.scriptId) < Number(script.scriptId)) older = true;
    }
    return edited && older;
  }
}

/**
 * A template's expressions compiled for the guard (probe-when-compile.ts's subset: reads of
 * locals and data properties, no call, no getter), in order; null when one does not compile there
 * (the logpoint pauses at each hit, as before).
 */
function compileTemplate(template: string, scope: GuardPlace['scope']): string[] | null {
  const values: string[] = [];
  for (const part of parseTemplate(template)) {
    if (!('expr' in part)) continue;
    const compiled = compileWhen(part.expr, scope, { gate: PROBE_GATE_KEY });
    if (!compiled.ok) return null;
    values.push(compiled.code);
  }
  return values;
}
