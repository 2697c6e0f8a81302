// What the probe engine (probes.ts) keeps, shared by its modules: a probe armed in this worker
// (its spec, hit counts, rate limit and pass window), a site (the place in a loaded script where
// one V8 breakpoint or one live-edit guard serves every probe armed there), and a pause as V8
// reports it; and how places and lines are shown in messages.
import type { CallFrame } from '../diagnostics/frames.js';
import type { ProbeSpec, TemplatePart } from '../server/probe-spec.js';
import type { EditSite } from './probe-live-edit.js';
import type { RateLimit } from './probe-rate.js';

export interface Armed {
  spec: ProbeSpec;
  parts: TemplatePart[];
  where: string;
  /** Where it is armed: the sites (by key) in each loaded script of its file (one per function that runs the line). */
  sites: Map<string, Site>;
  /** The scripts it was placed in (armed there, or found to have no code at the line). */
  scripts: Set<string>;
  /** Hits that paused (or, for count, every hit) since the last report, and in all. */
  pendingHits: number;
  pendingPaused: number;
  paused: number;
  /** Its rate limit here (probe-rate.ts). */
  limit: RateLimit;
  suspended: boolean;
  /** `when` as checked with the side-effect check at each of its sites (by key), its bindings renamed as compiled there. */
  whenAt: Map<string, string>;
  /** Passes of its line in the current one-second window (each costs V8 a condition evaluation). */
  passes: number;
  /** When that window began, in wall time and on the budget's clock. */
  passWindow: number;
  passWindowOwn: number;
  /** Its passes went over what the budget allows: suspended at the pause this asked for. */
  overrun: boolean;
  /** When its line last ran, the shortest gap between two runs in the window, and the cost a run is taken to have (ms). */
  lastPass: number;
  minGap: number;
  passCost: number;
}

/**
 * One V8 breakpoint (V8 allows one per place and session), shared by every probe armed there: a
 * logpoint and a snapshot on the same line each get their turn at the gate.
 */
export interface Site extends EditSite {
  key: string;
  breakpointId: string | null;
  probes: Set<Armed>;
  /** Source name -> compiled name of the bindings the compiler renamed in the code there (read at a pause, for the names an expression uses). */
  renames: Map<string, string> | null;
  /** The names of expressions whose renamings were looked up there already (probes.ts compiledNames). */
  renamesLooked?: Set<string>;
}

/** Where a probe was armed in a script, and what the user should know about it. */
export interface Placed {
  at: string;
  note?: string;
}

export interface Paused {
  reason: string;
  hitBreakpoints?: string[];
  callFrames: (CallFrame & { callFrameId: string })[];
}

/** A source line for a message: trimmed, at most 80 characters. */
export function clip(text: string): string {
  const t = text.trim();
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

/** A path relative to the working directory, as locations are shown. */
export function relative(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}
