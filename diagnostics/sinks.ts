// Created by diagnostics/index.ts; every dump goes here and leaves the process once per
// distinct site: stderr (text), TSPUMA_DUMP_DIR (.json and .txt, bounded), CI annotations.
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Dump } from './model.js';
import { renderText } from './render.js';

export interface SinkOptions {
  /** Folder for .json/.txt files; null for none. */
  dir: string | null;
  /** Most dumps kept in dir (pairs of files); the oldest go first. */
  maxFiles: number;
  githubActions: boolean;
  colour: boolean;
  write: (text: string) => void;
}

interface SiteRecord {
  first: Dump;
  count: number;
  path: string | null;
}

export class Sinks {
  private readonly sites = new Map<string, SiteRecord>();
  private readonly files: string[] = [];
  total = 0;

  constructor(private readonly opts: SinkOptions) {
    if (opts.dir) {
      mkdirSync(opts.dir, { recursive: true });
      // Files from earlier runs count towards the bound, oldest (by name: time first) first.
      for (const name of readdirSync(opts.dir).filter((n) => n.endsWith('.json')).sort()) this.files.push(join(opts.dir, name.slice(0, -5)));
    }
  }

  /** Emits a dump; returns the path of its .json file (null when not written, e.g. a repeat). */
  emit(dump: Dump): { repeat: boolean; path: string | null } {
    this.total++;
    // A hang is one worker killed: each gets its own files, never folded into an earlier one.
    const known = dump.kind === 'hang' ? undefined : this.sites.get(dump.site);
    if (known) {
      known.count++;
      if ([10, 100, 1000, 10000].includes(known.count) || known.count % 100000 === 0) {
        this.opts.write(`tspuma: the failure of dump #${known.first.id} (${dump.error.name}: ${dump.error.message}) has happened ${known.count} times\n`);
      }
      return { repeat: true, path: known.path };
    }
    const path = this.writeFiles(dump);
    this.sites.set(dump.site, { first: dump, count: 1, path });
    // The full text once per site, in CI too: the job log is the first place anyone looks.
    this.opts.write(`${renderText(dump, this.opts.colour)}\n${path ? `  written to ${path}\n` : ''}`);
    const culprit = dump.frames[dump.culprit];
    if (this.opts.githubActions && culprit) {
      const message = `${dump.error.name}: ${dump.error.message}`.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
      this.opts.write(`::error file=${culprit.file},line=${culprit.line},col=${culprit.column},title=tspuma dump #${dump.id} [${dump.phase}]::${message}\n`);
    }
    return { repeat: false, path };
  }

  private writeFiles(dump: Dump): string | null {
    if (!this.opts.dir) return null;
    const base = join(this.opts.dir, `${dump.time.replace(/[:.]/g, '-')}-${dump.pid}-${String(dump.id).padStart(4, '0')}`);
    try {
      writeFileSync(`${base}.json`, `${JSON.stringify(dump, null, 2)}\n`);
      writeFileSync(`${base}.txt`, `${renderText(dump)}\n`);
    } catch (err) {
      this.opts.write(`tspuma: could not write dump files ${base}.*: ${(err as Error).message}\n`);
      return null;
    }
    this.files.push(base);
    while (this.files.length > this.opts.maxFiles) {
      const old = this.files.shift()!;
      for (const ext of ['.json', '.txt']) {
        try {
          unlinkSync(`${old}${ext}`);
        } catch {
          /* already gone */
        }
      }
    }
    return resolve(`${base}.json`);
  }

  /** The exit summary: count, distinct sites, paths. */
  summary(): string {
    if (this.total === 0) return 'tspuma: no failure dumps in this run';
    const lines = [`tspuma: ${this.total} failure dump(s) at ${this.sites.size} distinct site(s)${this.opts.dir ? ` in ${resolve(this.opts.dir)}` : ''}:`];
    for (const [site, rec] of this.sites) lines.push(`  #${rec.first.id} x${rec.count} ${rec.first.error.name}: ${rec.first.error.message} at ${site}${rec.path ? ` -> ${rec.path}` : ''}`);
    return lines.join('\n');
  }
}
