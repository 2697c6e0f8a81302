// The places the probe engine (probes.ts) arms its probes at: a site is one place in a loaded
// script, served by one V8 breakpoint (V8 allows one per place and session) or one live-edit
// guard (probe-live-edit.ts), shared by every probe armed there; its breakpoint's condition is
// the probes' gates (and each one's checked `--when`), set again whenever its probes change.
import { v8Condition } from '../server/probe-spec.js';
import type { Armed, Paused, Site } from './probe-armed.js';
import type { LiveEdits } from './probe-live-edit.js';

/** What the sites need of the engine. */
export interface SiteHost {
  post<T = unknown>(method: string, params?: object): T;
  edits: LiveEdits<Site>;
}

export class ProbeSites {
  /** "scriptId:line:column" -> its site; V8 breakpoint id -> its site. */
  readonly byKey = new Map<string, Site>();
  private readonly byBreakpoint = new Map<string, Site>();

  constructor(private readonly host: SiteHost) {}

  /** The site at a place of a script (made, with no probe, the first time). */
  at(scriptId: string, lineNumber: number, columnNumber: number): Site {
    const key = `${scriptId}:${lineNumber}:${columnNumber}`;
    let site = this.byKey.get(key);
    if (!site) {
      site = { key, scriptId, location: { lineNumber, columnNumber }, breakpointId: null, probes: new Set(), renames: null, edit: null };
      this.byKey.set(key, site);
    }
    return site;
  }

  /** Whether a V8 breakpoint is one of these sites'. */
  has(breakpointId: string): boolean {
    return this.byBreakpoint.has(breakpointId);
  }

  /** Sets the site's breakpoint again with the conditions of the probes armed there (or removes it). */
  rearm(site: Site): void {
    this.dropBreakpoint(site);
    const probes = [...site.probes];
    if (probes.length === 0) {
      this.byKey.delete(site.key);
      this.host.edits.unguard(site);
      return;
    }
    if (this.host.edits.guard(site, probes)) return;
    this.setBreakpoint(site, probes);
  }

  private dropBreakpoint(site: Site): void {
    if (site.breakpointId === null) return;
    this.byBreakpoint.delete(site.breakpointId);
    try {
      this.host.post('Debugger.removeBreakpoint', { breakpointId: site.breakpointId });
    } catch {
      /* its script is gone */
    }
    site.breakpointId = null;
  }

  /** The site's V8 breakpoint, with the conditions of its probes (set again when it has one). */
  setBreakpoint(site: Site, probes: Armed[]): void {
    this.dropBreakpoint(site);
    // Each probe's condition is evaluated (| does not stop early), so each gate counts its hit.
    // A `when` not checked yet in this worker is left out: V8 would evaluate it without the check.
    const conditionOf = (p: Armed) => {
      if (p.spec.when === null) return v8Condition({ id: p.spec.id, when: null });
      const checked = p.whenAt.get(site.key);
      return checked !== undefined ? v8Condition({ id: p.spec.id, when: checked }) : v8Condition({ id: p.spec.id, when: null }, true);
    };
    const condition = probes.length === 1 ? conditionOf(probes[0]!) : probes.map((p) => `!!(${conditionOf(p)})`).join(' | ');
    const { breakpointId, actualLocation } = this.host.post<{ breakpointId: string; actualLocation: { lineNumber: number; columnNumber: number } }>('Debugger.setBreakpoint', {
      location: { scriptId: site.scriptId, ...site.location },
      condition,
    });
    site.breakpointId = breakpointId;
    site.location = { lineNumber: actualLocation.lineNumber, columnNumber: actualLocation.columnNumber };
    this.byBreakpoint.set(breakpointId, site);
  }



  removeBreakpoints(armed: Armed): void {
    for (const site of armed.sites.values()) {
      site.probes.delete(armed);
      this.rearm(site);
    }
    armed.sites.clear();
    armed.scripts.clear();
  }

  /** The site of `armed` whose breakpoint this pause is at. */
  siteHit(armed: Armed, params: Paused): Site | null {
    for (const b of params.hitBreakpoints ?? []) {
      const site = this.byBreakpoint.get(b);
      if (site?.probes.has(armed)) return site;
    }
    return null;
  }
}
