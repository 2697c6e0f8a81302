// Created by cli.ts / start() when debug is on (TSPUMA_OPTS=-d, --debug, debug: true); owns
// the capturer, the dump builder and the sinks, and is handed to the server as its debug hook.
import { CLUSTER_RUN_ENV } from '../server/cluster/messages.js';
import type { DiagnosticsHook, ReportContext, Reported } from '../server/debug-hook.js';
import { Capturer, type Capture } from './capture.js';
import { DumpBuilder } from './dumps.js';
import type { Dump, DumpPhase } from './model.js';
import { Redactor } from './redact.js';
import { renderText } from './render.js';
import { Sinks } from './sinks.js';

export interface DiagnosticsOptions {
  /** Frames per dump. */
  frames: number;
  /** Extra secret-name pattern (a regular expression source). */
  redact: string | null;
  /** Dump folder; default TSPUMA_DUMP_DIR, or ./tspuma-dumps when CI=true. */
  dir: string | null;
  maxFiles: number;
  env: NodeJS.ProcessEnv;
  /** Where text goes (stderr). */
  write: (text: string) => void;
  colour: boolean;
  /** Logged when capture itself fails. */
  onInternalError: (err: unknown) => void;
}

export const DIAGNOSTICS_DEFAULTS = { frames: 32, maxFiles: 100, perSiteMs: 60_000, globalPerSecond: 20 } as const;

export function dumpDirFrom(env: NodeJS.ProcessEnv, explicit: string | null): string | null {
  if (explicit) return explicit;
  if (env.TSPUMA_DUMP_DIR && env.TSPUMA_DUMP_DIR.trim() !== '') return env.TSPUMA_DUMP_DIR;
  if (env.CI === 'true' || env.CI === '1') return 'tspuma-dumps';
  return null;
}

export class Diagnostics implements DiagnosticsHook {
  readonly capturer: Capturer;
  readonly sinks: Sinks;
  private readonly builder: DumpBuilder;
  private readonly ci: boolean;
  private closed = false;
  /** Cluster worker index (from TSPUMA_WORKER_INDEX), null in single mode and the primary. */
  private readonly worker: number | null;

  constructor(private readonly opts: DiagnosticsOptions) {
    const index = opts.env.TSPUMA_WORKER_INDEX;
    this.worker = index !== undefined && /^\d+$/.test(index) ? Number(index) : null;
    const redactor = new Redactor(opts.redact);
    this.capturer = new Capturer({ frames: opts.frames, perSiteMs: DIAGNOSTICS_DEFAULTS.perSiteMs, globalPerSecond: DIAGNOSTICS_DEFAULTS.globalPerSecond }, redactor, opts.onInternalError);
    this.builder = new DumpBuilder(redactor, opts.frames);
    this.ci = opts.env.CI === 'true' || opts.env.CI === '1';
    this.sinks = new Sinks({
      dir: dumpDirFrom(opts.env, opts.dir),
      maxFiles: opts.maxFiles,
      githubActions: opts.env.GITHUB_ACTIONS === 'true',
      colour: opts.colour,
      write: opts.write,
      run: this.worker === null ? null : (opts.env[CLUSTER_RUN_ENV] ?? null),
    });
    process.setSourceMapsEnabled(true);
    this.capturer.start();
  }

  scope<T>(phase: DumpPhase, fn: () => T): T {
    return this.capturer.scope(phase, fn);
  }

  enter(phase: DumpPhase): void {
    this.capturer.enter(phase);
  }

  leave(): void {
    this.capturer.leave();
  }

  snapshot(phase: DumpPhase): unknown {
    return this.capturer.snapshot(phase);
  }

  report(err: unknown, ctx: ReportContext): Reported {
    const capture = (ctx.snapshot as Capture | undefined) ?? this.capturer.captureFor(err);
    const site = capture ? undefined : this.capturer.siteFor(err);
    const dump = this.builder.build(err, capture, { phase: ctx.phase, kind: ctx.kind, request: ctx.request ?? null, capture, context: ctx.context, worker: this.worker, ...(site ? { site } : {}) });
    const { repeat, path } = this.sinks.emit(dump);
    return { dump, text: renderText(dump), path, repeat };
  }

  /** Emits a dump made elsewhere (a live stack, an autopsy) through the same sinks. */
  emit(dump: Dump): Reported {
    const { repeat, path } = this.sinks.emit(dump);
    return { dump, text: renderText(dump), path, repeat };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.capturer.stop();
    const cost = this.capturer.costLine();
    if (cost) this.opts.write(`${cost}\n`);
    if (this.ci) this.opts.write(`${this.sinks.summary()}\n`);
  }
}

/** Sinks for dumps made without the capture layer (autopsies with --inspect but not --debug). */
export function standaloneSinks(env: NodeJS.ProcessEnv, dir: string | null): Sinks {
  return new Sinks({
    dir: dumpDirFrom(env, dir),
    maxFiles: DIAGNOSTICS_DEFAULTS.maxFiles,
    githubActions: env.GITHUB_ACTIONS === 'true',
    colour: process.stderr.isTTY === true,
    write: (text) => process.stderr.write(text),
  });
}

export function enableDiagnostics(opts: Partial<DiagnosticsOptions> = {}): Diagnostics {
  return new Diagnostics({
    frames: opts.frames ?? DIAGNOSTICS_DEFAULTS.frames,
    redact: opts.redact ?? null,
    dir: opts.dir ?? null,
    maxFiles: opts.maxFiles ?? DIAGNOSTICS_DEFAULTS.maxFiles,
    env: opts.env ?? process.env,
    write: opts.write ?? ((text) => process.stderr.write(text)),
    colour: opts.colour ?? process.stderr.isTTY === true,
    onInternalError: opts.onInternalError ?? ((err) => process.stderr.write(`tspuma: diagnostics capture failed: ${(err as Error)?.message ?? String(err)}\n`)),
  });
}
