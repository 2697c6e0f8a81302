// Live edit (probeLiveEdit): a probe's gate, and its `--when` where that compiles, put into the
// script's source with V8's Debugger.setScriptSource instead of a breakpoint, where that is sound;
// the source given back as probes go, retried while V8 refuses (a function of the script running
// or waiting at an await). The text of a guard and where it goes: probe-edits.ts.
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
   * `debugger`; `slots`: the probe each of the guard's checks answers for (its `--when`, its
   * template, or none: `1`), by the check's index, null for the plain gate (every probe there has
   * no `--when`); `ms`: the edit that armed it (0: the guard was in the code already).
   */
  edit: { n: number; place: GuardPlace; ms: number; text: string; column: number; slots: readonly number[] | null; templates?: ReadonlySet<number>; reused?: boolean } | null;
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
  scripts: ReadonlyMap<string, LoadedScript>;
  scriptSource(scriptId: string): string | null;
  /** V8 took an edit of the script: it dropped the breakpoints in the functions the edit changed. */
  edited(scriptId: string): void;
}

/**
 * A guard in a script's code: V8 runs it until an edit takes it out. Its checks (null: the plain
 * gate) are the keys of checkKey, by index.
 */
interface Guard {
  n: number;
  place: GuardPlace;
  text: string;
  column: number;
  checks: readonly string[] | null;
}

/** A script live edit changed in this process: its source as loaded, and the guards in its code now, by offset. */
interface EditedScript {
  original: string;
  guards: Map<number, Guard>;
}

/**
 * Guard numbers, never reused in this process: a guard left in the code (its gate answering no) keeps
 * its number, and a later gate must not take it for one of its own.
 */
let nextGuard = 1;
/**
 * The guards in each script's code, for the process's life: a removed probe's guard stays in the
 * code with its gate off (a typeof and a call per pass, where taking it out would be one more
 * live edit, a walk of the whole heap: test/README.md "Probes and live edit"), and a probe set
 * later at its line, by this engine or the worker's next, takes it over with no edit. A later edit
 * of the script (a guard at another line) leaves it out where V8 cannot refuse that (its function
 * is neither async nor a generator, nor module code).
 */
const inCode = new Map<string, EditedScript>();
/**
 * Scripts this process has live-edited (ids are the isolate's, the same in every session). V8
 * keeps the source before each edit as a script of its own with the same URL, which a session
 * opened later (a worker's next engine, once its last probe was removed) is told of beside the
 * live one: those are not armed (see replaced()).
 */
const editedScripts = new Set<string>();

/**
 * Live edit's bound: V8 recompiles the whole script at an edit, with the thread held, at a cost
 * that grows faster than the script (measured here on Node 20, scripts of 4-line functions: 63 KB /
 * 1,000 functions 47 ms, 128 KB / 2,000 87 ms, 258 KB / 4,000 289 ms, 648 KB 7.2 s, 2.6 MB
 * minutes). Over either figure the probe keeps its breakpoint.
 */
const EDIT_MAX_BYTES = 100_000;
const EDIT_MAX_FUNCTIONS = 1500;

/** Why a script is too large to edit live, or null. (`function` and `=>` counted in the text: a count on the safe side.) */
function overEditBound(source: string): string | null {
  const functions = source.match(/\bfunction\b|=>/g)?.length ?? 0;
  if (source.length <= EDIT_MAX_BYTES && functions <= EDIT_MAX_FUNCTIONS) return null;
  return `the script is ${Math.round(source.length / 1000)} KB with ${functions} functions, over live edit's bound of ${EDIT_MAX_BYTES / 1000} KB or ${EDIT_MAX_FUNCTIONS} functions, which keeps an edit under ~100 ms`;
}

/**
 * A check's text in guard `n` at index `k`, from its key: `w:CODE` (a compiled `--when`, or `1`
 * for a probe with none beside others that have one), `t:V1,V2…` (a compiled template's values).
 */
function checkText(key: string, n: number, k: number): string {
  const G = PROBE_GATE_KEY;
  return key.startsWith('t:') ? `(${G}.a(${n},${k})&&${G}.t(${n},${k},[${key.slice(2)}]))` : `${G}.w(${n},${k},${key.slice(2)})`;
}

/**
 * Which of the guard's checks answers for each probe (their keys matched, each check to one probe),
 * or null when one has none there. Checks left over answer no (their probe was removed).
 */
function matchChecks(checks: readonly string[], wanted: readonly string[]): number[] | null {
  const free = checks.map((_, k) => k);
  const slots: number[] = [];
  for (const key of wanted) {
    const at = free.findIndex((k) => checks[k] === key);
    if (at < 0) return null;
    slots.push(free[at]!);
    free.splice(at, 1);
  }
  return slots;
}

export class LiveEdits<S extends EditSite> {
  /** Sites by guard number: the guards whose gate answers here (any other answers no). */
  readonly guarded = new Map<number, S>();

  constructor(private readonly host: LiveEditHost) {}

  /** A script's source as loaded, when live edit changed it in this process (guards are in the code), else null. */
  original(scriptId: string): string | null {
    return inCode.get(scriptId)?.original ?? null;
  }

  /** Whether a pause is at the `debugger` of a guard in the code now (its gate answers, or answers no). */
  atGuard(at: { scriptId: string; lineNumber: number; columnNumber: number }): boolean {
    for (const g of inCode.get(at.scriptId)?.guards.values() ?? []) if (g.place.line === at.lineNumber && g.column === at.columnNumber) return true;
    return false;
  }

  /**
   * Arms the site by live edit when that is sound: each probe there has no column and is not
   * replay's, and its `--when`, if any, compiles (probe-when-compile.ts: a subset that cannot run
   * the app's code, so V8's side-effect check is not needed); a guard fits before its statement
   * (probe-edits.ts); no DevTools can attach here; and either a guard with the checks it needs is
   * in the code there already (a probe's that was removed: no edit), or V8 takes the edit (it
   * refuses one while the function runs or waits at an await). Else false: a breakpoint, and
   * `noEdit` says why.
   */
  guard(site: S, probes: readonly { spec: ProbeSpec }[]): boolean {
    site.noEdit = undefined;
    if (!probes.every((p) => (p.spec.column ?? null) === null && p.spec.kind !== 'break')) {
      this.unguard(site);
      return false;
    }
    const keep = (why: string | null): false => {
      if (why !== null && (probes.some((p) => p.spec.when !== null) || why.startsWith('the script is'))) site.noEdit = why;
      if (site.edit) this.unguard(site);
      return false;
    };
    if (!this.host.liveEdit) return keep('live edit is off (probeLiveEdit: false)');
    // Not even a guard already in the code: its `debugger` would stop a DevTools client's session too.
    if (this.host.devtoolsMayAttach()) return keep('DevTools may attach to this process (inspect), and V8 drops a client\'s breakpoints in a function a live edit changes');
    const script = this.host.scripts.get(site.scriptId);
    const entry = inCode.get(site.scriptId);
    const original = entry?.original ?? this.host.scriptSource(site.scriptId);
    if (!script || original === null) return keep('the script\'s source could not be read');
    const over = overEditBound(original);
    if (over) return keep(over);
    const place = site.edit?.place ?? guardPlace(original, script.isModule === true, site.location.lineNumber, site.location.columnNumber, nextGuard);
    if (!place) return keep('no place for a gate right before the probed statement (it is not the first on its line in a block, or a comment or other code is between it and the statement before)');
    // What each probe needs of the guard: nothing (the plain gate), or a check (its compiled --when or template).
    // A logpoint with no --when gets its template compiled into the guard where every expression
    // compiles there: a hit writes its line with no pause (probe-gates.ts templatePass/templateGate).
    const templated = (p: { spec: ProbeSpec }) => p.spec.kind === 'log' && p.spec.when === null && p.spec.template !== null;
    let wanted: string[] | null = null;
    const templates = new Set<number>();
    if (probes.some((p) => p.spec.when !== null || templated(p))) {
      wanted = [];
      for (const p of probes) {
        if (p.spec.when === null) {
          const values = templated(p) ? compileTemplate(p.spec.template!, place.scope) : null;
          if (values !== null) templates.add(p.spec.id);
          wanted.push(values !== null ? `t:${values.join(',')}` : 'w:1');
          continue;
        }
        const compiled = compileWhen(p.spec.when, place.scope, { gate: PROBE_GATE_KEY });
        if (!compiled.ok) return keep(p.spec.id === probes.find((q) => q.spec.when !== null)?.spec.id ? `its --when is not compiled: ${compiled.reason}` : `the --when of probe ${p.spec.id} there is not compiled: ${compiled.reason}`);
        wanted.push(`w:${compiled.code}`);
      }
    }
    const ids = probes.map((p) => p.spec.id);
    // The guard in the code here (this site's, or one a removed probe left), if it answers for each probe.
    const there = entry?.guards.get(place.offset);
    const owner = there ? this.guarded.get(there.n) : undefined;
    // (Another site's guard at this place: not shared; this one keeps a breakpoint.)
    if (owner !== undefined && owner !== site) return keep(null);
    if (there) {
      let slots: number[] | null | undefined;
      if (there.checks === null) slots = wanted === null ? null : undefined;
      else {
        const taken = matchChecks(there.checks, wanted ?? ids.map(() => 'w:1'));
        slots = taken === null ? undefined : slotsOf(there.checks.length, taken, ids);
      }
      if (slots !== undefined) {
        const own = site.edit?.n === there.n ? site.edit : null;
        const reused = own === null || own.reused === true;
        site.edit = { n: there.n, place: there.place, ms: own?.ms ?? 0, text: there.text, column: there.column, slots, ...(templates.size > 0 ? { templates } : {}), ...(reused ? { reused: true } : {}) };
        this.guarded.set(there.n, site);
        return true;
      }
    }
    // Not while paused (V8 would recompile the script with the thread held), nor in a script parsed but not run yet (P8).
    if (this.host.pausedNow()) return keep('set while the thread was paused at a probe');
    if (this.host.parsing()) return keep('armed as its file was parsed, before its code ran, when V8 cannot take a live edit');
    const n = there?.n ?? site.edit?.n ?? nextGuard++;
    const checks = wanted;
    const text = guardText(n, checks === null ? null : checks.map((key, k) => checkText(key, n, k)).join('|'));
    const guard: Guard = { n, place, text, column: debuggerColumn(place, text), checks };
    const started = performance.now();
    if (!this.applyEdit(site.scriptId, original, guard)) {
      // The code keeps the guards it had: this site's, if any, does not answer for every probe here.
      return keep('V8 refused the live edit (a function of the script was running or waiting at an await)');
    }
    site.edit = { n, place, ms: Math.round((performance.now() - started) * 10) / 10, text, column: guard.column, slots: checks === null ? null : ids, ...(templates.size > 0 ? { templates } : {}) };
    this.guarded.set(n, site);
    return true;
  }

  /** The site's guard answers no from now on; it stays in the code (no edit), for a later probe at its line to take over. */
  unguard(site: S): void {
    if (!site.edit) return;
    if (this.guarded.get(site.edit.n) === site) this.guarded.delete(site.edit.n);
    site.edit = null;
  }

  /**
   * Puts `guard` into the script (in place of the one at its offset, if any), with the other guards
   * of this engine's probes; a guard left by a removed probe goes with this edit where V8 cannot
   * refuse that (probe-edits.ts: `suspendable`), else it stays. True when V8 took it.
   */
  private applyEdit(scriptId: string, original: string, guard: Guard): boolean {
    const before = inCode.get(scriptId)?.guards ?? new Map<number, Guard>();
    const after = new Map<number, Guard>();
    for (const [offset, g] of before) if (offset !== guard.place.offset && (this.guarded.has(g.n) || g.place.suspendable)) after.set(offset, g);
    after.set(guard.place.offset, guard);
    const text = withGuards(original, [...after.values()].map((g) => ({ offset: g.place.offset, n: g.n, text: g.text })));
    let status: string;
    editedScripts.add(scriptId);
    const started = performance.now();
    try {
      status = this.host.post<{ status: string }>('Debugger.setScriptSource', { scriptId, scriptSource: text }).status;
    } catch (err) {
      status = (err as Error).message;
    }
    // One line per edit V8 was asked for (taken or not: either way it walked the heap), for what a probe costs (bench/probe-edit-cost.ts counts them).
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const url = this.host.scripts.get(scriptId)?.url ?? scriptId;
    if (status !== 'Ok') {
      this.host.log.debug({ scriptId, status, liveEditMs: ms }, `Probes: V8 refused a live edit of ${url} (${ms} ms): ${status}`);
      return false;
    }
    this.host.log.debug({ scriptId, liveEditMs: ms, guards: after.size }, `Probes: live edit of ${url} (${ms} ms, ${after.size} guard(s) in it)`);
    inCode.set(scriptId, { original, guards: after });
    // V8 drops the breakpoints in the functions an edit changed: the other probes' here are set again.
    this.host.edited(scriptId);
    return true;
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

/** The probe (id) each of a guard's `count` checks answers for, from the check index each probe took (-1: none). */
function slotsOf(count: number, taken: readonly number[], ids: readonly number[]): number[] {
  const slots = new Array<number>(count).fill(-1);
  taken.forEach((k, i) => (slots[k] = ids[i]!));
  return slots;
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
