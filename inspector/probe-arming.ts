// Where the probe engine (probes.ts) arms a probe: in each loaded script of its file (and each
// script of it parsed later), at the line it is at now (a deploy may have moved it:
// server/probe-anchor.ts), on the sites there (probe-sites.ts); what the primary is told of it
// (armed where, pending, no code with the nearest lines that have some, suspended because its
// line changed).
import type { Logger } from 'pino';
import { TspumaError } from '../server/errors.js';
import type { ProbeArmState, ProbeEvent } from '../server/cluster/messages.js';
import { findLine, probeFileText } from '../server/probe-anchor.js';
import { locationText, parseTemplate, type ProbeSpec, type TemplatePart } from '../server/probe-spec.js';
import { clip, relative, type Armed, type Placed, type Site } from './probe-armed.js';
import type { LiveEdits } from './probe-live-edit.js';
import { nearestText, place, possibleBreakpoints, scriptHolds, type LoadedScript } from './probe-locations.js';
import { RateLimit } from './probe-rate.js';
import type { ProbeSites } from './probe-sites.js';

/** What arming needs of the engine. */
export interface ArmingHost {
  worker: number;
  log: Logger;
  probes: Map<number, Armed>;
  scripts: Map<string, LoadedScript>;
  sites: ProbeSites;
  edits: LiveEdits<Site>;
  now: () => number;
  post<T = unknown>(method: string, params?: object): T;
  /** Tells the primary where a probe stands here / what happened to it. */
  state(id: number, s: ProbeArmState): void;
  event(id: number, e: ProbeEvent): void;
  disarm(id: number): void;
}

export class ProbeArming {
  constructor(private readonly h: ArmingHost) {}

  arm(spec: ProbeSpec): void {
    this.h.disarm(spec.id);
    let parts: TemplatePart[] = [];
    try {
      parts = spec.template !== null ? parseTemplate(spec.template) : [];
    } catch (err) {
      const e = err as TspumaError;
      return this.h.state(spec.id, { state: 'error', code: e.code, message: e.message });
    }
    const rate = spec.rate;
    const armed: Armed = { spec, parts, where: locationText(spec.file, spec.line, spec.column), sites: new Map(), scripts: new Set(), pendingHits: 0, pendingPaused: 0, paused: 0, limit: new RateLimit(rate, this.h.now), suspended: false, whenAt: new Map(), passes: 0, passWindow: -Infinity, passWindowOwn: -Infinity, overrun: false, lastPass: -Infinity, minGap: Infinity, passCost: 0 };
    this.h.probes.set(spec.id, armed);
    let at: Placed | null = null;
    let missing: { below: number | null; above: number | null } | null = null;
    for (const script of [...this.h.scripts.values()]) {
      let r: ReturnType<typeof this.armIn>;
      try {
        r = this.armIn(armed, script);
      } catch (err) {
        // A script V8 has let go of (its id answers "Script not found"): forgotten; the file's live one is armed.
        if (/Script not found/.test((err as Error).message)) this.h.scripts.delete(script.scriptId);
        else this.h.log.warn({ err, probe: spec.id }, `Probe ${spec.id} at ${armed.where}: cannot arm it in ${script.url} (worker ${this.h.worker}): ${(err as Error).message}`);
        continue;
      }
      if (r === 'gone') return;
      if (r && 'at' in r) at ??= r;
      else if (r) missing = r;
    }
    if (at) return this.h.state(spec.id, { state: 'armed', ...at, location: armed.where });
    if (missing) {
      this.h.disarm(spec.id);
      const err = this.noCode(armed, missing, 'in the script loaded for it');
      return this.h.state(spec.id, { state: 'error', code: err.code, message: err.message });
    }
    this.h.state(spec.id, { state: 'pending' });
  }

  private noCode(armed: Armed, p: { below: number | null; above: number | null }, reason: string): TspumaError {
    return new TspumaError('TSPUMA_ERR_PROBE_NO_CODE', { location: armed.where, worker: this.h.worker, reason, nearest: nearestText(p) });
  }

  /**
   * Where it is armed (for the set answer): the line taken, where it stops in the script, and what
   * the user should know about the line (a one-line route's handler, a line that moved).
   */
  private describe(armed: Armed, script: LoadedScript, sites: Site[], notes: string[]): Placed {
    const form = (s: Site): string => {
      if (armed.spec.when !== null) return s.edit ? ` (condition compiled into the gate; gate compiled in by live edit: ${s.edit.ms} ms)` : ` (conditional breakpoint: ${s.noEdit ?? 'its --when is evaluated by V8 at each pass'})`;
      if (s.edit?.templates?.has(armed.spec.id)) return ` (template and gate compiled in by live edit: ${s.edit.ms} ms; a hit logs with no pause)`;
      // A guard a removed probe left at the line, taken over (probe-live-edit.ts): no edit.
      if (s.edit?.reused) return ' (gate compiled in by live edit: no edit, a removed probe\'s guard was still in the code)';
      return s.edit ? ` (gate compiled in by live edit: ${s.edit.ms} ms)` : s.noEdit ? ` (breakpoint: ${s.noEdit})` : '';
    };
    const at = sites.map((s) => `generated line ${s.location.lineNumber + 1} column ${s.location.columnNumber + 1}${form(s)}`).join(' and ');
    return { at: `${script.url}, ${at}`, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
  }

  /**
   * Arms the probe in one script. Returns where (a description), null when the script is not that
   * file's (or it was placed there already), 'gone' when its line is no longer in the file (the
   * probe is suspended here), else the lines with code near it.
   */
  private armIn(armed: Armed, script: LoadedScript): Placed | null | 'gone' | { below: number | null; above: number | null } {
    if (armed.scripts.has(script.scriptId) || !scriptHolds(script, armed.spec.file) || this.h.edits.replaced(script)) return null;
    armed.scripts.add(script.scriptId);
    const found = findLine(armed.spec);
    const notes: string[] = [];
    if (!('line' in found)) {
      this.suspendChanged(armed, 'gone' in found ? (found.gone === null ? 'is no longer in it, and that line number is now past the end of the file' : `is no longer in it, and that line number now reads ${JSON.stringify(clip(found.gone))}`)
        : `is on lines ${found.ambiguous.join(' and ')} now, and neither stands where it stood (${armed.spec.context?.blocks.length ? `in \`${clip(armed.spec.context.blocks.at(-1)!)}\`, ` : ''}between the same lines)`);
      return 'gone';
    }
    if (found.line !== armed.spec.line) {
      const from = armed.where;
      armed.where = locationText(armed.spec.file, found.line, armed.spec.column);
      const note = `${relative(armed.spec.file)} changed since the probe was set: its line ${JSON.stringify(clip(armed.spec.lineText!))} is line ${found.line} now`;
      notes.push(note);
      this.h.log.info({ probe: armed.spec.id, location: armed.where, was: from }, `Probe ${armed.spec.id} at ${from} moved to ${armed.where} in worker ${this.h.worker}: ${note}`);
    }
    const placed = place(script, armed.spec.file, found.line, armed.spec.column ?? null, possibleBreakpoints((method, params) => this.h.post(method, params)), () => {
      try {
        return probeFileText(armed.spec.file).split('\n')[found.line - 1] ?? null;
      } catch {
        return null;
      }
    });
    if (!placed.ok) return placed;
    if (placed.note) notes.push(placed.note);
    const sites: Site[] = [];
    for (const { scriptId, lineNumber, columnNumber } of placed.locations) {
      const site = this.h.sites.at(scriptId, lineNumber, columnNumber);
      site.probes.add(armed);
      armed.sites.set(site.key, site);
      this.h.sites.rearm(site);
      sites.push(site);
    }
    return this.describe(armed, script, sites, notes);
  }


  /** Its line is not in the file this worker loaded, or not only once (a deploy changed it): no more hits here, and the log says why. */
  private suspendChanged(armed: Armed, now: string): void {
    armed.suspended = true;
    this.h.sites.removeBreakpoints(armed);
    const err = new TspumaError('TSPUMA_ERR_PROBE_SOURCE_CHANGED', {
      id: armed.spec.id, location: armed.where, worker: this.h.worker, was: JSON.stringify(clip(armed.spec.lineText ?? '')), now,
    });
    this.h.log.warn({ probe: armed.spec.id, code: err.code }, err.message);
    this.h.event(armed.spec.id, { event: 'suspended', ms: 0, code: err.code, message: err.message });
  }

  armParsed(script: LoadedScript): void {
    for (const armed of [...this.h.probes.values()]) {
      if (armed.suspended) continue;
      const had = armed.sites.size > 0;
      try {
        const r = this.armIn(armed, script);
        if (r === 'gone') continue;
        if (r && 'at' in r && !had) {
          this.h.log.info({ probe: armed.spec.id, location: armed.where }, `Probe ${armed.spec.id} at ${armed.where} armed: ${r.at}${r.note ? ` (${r.note})` : ''}`);
          this.h.state(armed.spec.id, { state: 'armed', ...r, location: armed.where });
        } else if (r && !('at' in r) && !had) {
          const err = this.noCode(armed, r, `in ${script.url}, loaded after the probe was set`);
          this.h.disarm(armed.spec.id);
          this.h.state(armed.spec.id, { state: 'error', code: err.code, message: err.message });
        }
      } catch (err) {
        this.h.log.warn({ err, probe: armed.spec.id }, `Probe ${armed.spec.id}: cannot arm it in ${script.url}: ${(err as Error).message}`);
      }
    }
  }
}
