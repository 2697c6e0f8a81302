// What a probe's hit writes: a logpoint's line (its template's values read at the paused frame,
// redacted like a dump's locals, with the request it belongs to) and a snapshot (the whole stack
// read as a failure dump reads it, written to the dump folder as a dump of kind `snapshot`).
import type { ProbeEvent } from '../server/cluster/messages.js';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { DumpBuilder } from '../diagnostics/dumps.js';
import type { FrameReader, PropertyDescriptor, RemoteObject, ScriptInfo } from '../diagnostics/frames.js';
import type { Dump, Shown } from '../diagnostics/model.js';
import type { Redactor } from '../diagnostics/redact.js';
import { renderText } from '../diagnostics/render.js';
import { dumpDirFrom } from '../diagnostics/index.js';
import { fileHost } from '../diagnostics/dump-budget.js';
import { ensurePrivateDir, writePrivateFile } from '../server/private-file.js';
import type { FoundRequest } from '../server/app-calls.js';
import type { ProbeSpec, TemplatePart } from '../server/probe-spec.js';
import { SIDE_EFFECT, idOf, type Evaluated, type FrameReads, type PausedFrame } from './probe-frame-reads.js';
import type { LoadedScript } from './probe-locations.js';

/** The probe a hit is of, as its output needs it. */
export interface Hit {
  spec: ProbeSpec;
  parts: TemplatePart[];
  /** Its location as shown. */
  where: string;
  /** Its hits that paused here so far (this one included). */
  paused: number;
}

/** What the output needs from the engine. */
export interface ProbeOutputDeps {
  log: Logger;
  worker: number;
  /** dumpFrames. */
  frames: number;
  dumpDir: string | null;
  redactor: Redactor;
  reader: FrameReader;
  reads: FrameReads;
  post<T = unknown>(method: string, params?: object): T;
  /** The scripts loaded, by id. */
  scripts: ReadonlyMap<string, LoadedScript>;
  scriptSource(scriptId: string): string | null;
  /** Milliseconds the thread has been held by this pause. */
  heldMs(): number;
  event(id: number, e: Extract<ProbeEvent, { event: 'snapshot' }>): void;
  /** URL prefix of the probe code's own files: its frames are not read. */
  ownUrl: string;
}

/** Where a logpoint's template values come from. */
export interface TemplateReads {
  /** Whether the thread is paused for them (the line says so: `paused`). */
  paused: boolean;
  /** An expression's value as a remote object, or what evaluating it threw. */
  evaluate(expr: string): Evaluated;
  /** For an expression that threw: its value in an enclosing function's frame on the stack (P11), else null. */
  enclosing(expr: string, message: string): { result: RemoteObject; frame: string } | null;
}

/**
 * The values read at the paused line, with V8's side-effect check (`compiled` names the bindings
 * as the compiled code does; a request's accessors read past the check: FrameReads).
 */
export function pausedReads(reads: FrameReads, frames: PausedFrame[], compiled: (expr: string) => string): TemplateReads {
  const callFrameId = frames[0]!.callFrameId;
  return {
    paused: true,
    evaluate(source) {
      const expr = compiled(source);
      const r = reads.evaluate(callFrameId, expr);
      if (r.exceptionDetails && SIDE_EFFECT.test(r.exceptionDetails.exception?.description ?? '') && reads.onlyRequestReads(callFrameId, expr)) return reads.evaluate(callFrameId, expr, false);
      return r;
    },
    enclosing: (expr, message) => reads.enclosingRead(frames, expr, message),
  };
}

/**
 * Values the guard computed in the app's frame (the template's expressions in order), as remote
 * objects: a string, finite number, boolean, null or undefined as V8 would describe it; anything
 * else handed to V8 through `remote` (an object is read as at a pause: its preview, its fields).
 */
export function computedReads(parts: TemplatePart[], values: unknown[], remote: (value: unknown) => RemoteObject): TemplateReads {
  const byExpr = new Map<string, unknown>();
  let i = 0;
  for (const part of parts) if ('expr' in part) byExpr.set(part.expr, values[i++]);
  return {
    paused: false,
    evaluate(expr) {
      const v = byExpr.get(expr);
      if (typeof v === 'string' || typeof v === 'boolean') return { result: { type: typeof v, value: v } as RemoteObject };
      if (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0)) return { result: { type: 'number', value: v, description: String(v) } as RemoteObject };
      if (v === undefined) return { result: { type: 'undefined' } as RemoteObject };
      if (v === null) return { result: { type: 'object', subtype: 'null', value: null } as RemoteObject };
      return { result: remote(v) };
    },
    enclosing: () => null,
  };
}

/** V8's debug-evaluate error for a let/const in its TDZ (seen under -d; without it V8 mostly reads such a name as undefined). */
const NOT_SET = /^ReferenceError: Cannot access '([^']+)' from debugger$/;

/** What a template read that hit a name's TDZ shows instead of V8's words, which read like a refusal; else null. */
function unsetMessage(message: string): string | null {
  const name = NOT_SET.exec(message)?.[1];
  return name === undefined ? null : `${name} is not set yet: a probe stops before its line runs, so a const or let declared on this line or below has no value here; probe the next line`;
}

export class ProbeOutput {
  private builder: DumpBuilder | null = null;
  private count = 0;

  constructor(private readonly d: ProbeOutputDeps) {}

  /**
   * Writes a logpoint's line: the template's values (read at the paused line with the side-effect
   * check: pausedReads; or computed by the guard with no pause: computedReads), redacted like a
   * dump's locals. An expression that would write is returned, unlogged (the engine removes its probe).
   */
  logLine(armed: Hit, reads: TemplateReads, requestId: string | null, found: FoundRequest | null): { expr: string; message: string } | null {
    const values: Record<string, Shown> = {};
    /** Expressions read in an enclosing function's frame (P11), and which. */
    const readIn: Record<string, string> = {};
    const redactions: string[] = [];
    let text = '';
    // Redaction follows the value: the request's secret headers and query values are known before
    // any template value is shown, whatever the template names and in what order (a local that
    // holds the x-api-key header is redacted even when the template shows no header).
    const short: string[] = [];
    for (const req of found ? (found.req ? [found.req] : found.oneOf) : []) short.push(...this.rememberRequestSecrets(req));
    for (const part of armed.parts) {
      if ('text' in part) {
        text += part.text;
        continue;
      }
      let shown: Shown;
      if (identifiers(part.expr).some((n) => this.d.redactor.isSecretName(n))) {
        shown = '[redacted]';
        redactions.push(`value of ${part.expr}`);
      } else {
        const r = reads.evaluate(part.expr);
        if (r.exceptionDetails) {
          const message = r.exceptionDetails.exception?.description?.split('\n')[0] ?? r.exceptionDetails.text ?? 'threw';
          if (SIDE_EFFECT.test(message)) return { expr: part.expr, message };
          const outer = reads.enclosing(part.expr, message);
          if (outer) readIn[part.expr] = outer.frame;
          shown = outer ? this.d.reader.show(outer.result, `template ${part.expr}`, redactions) : { summary: `<${unsetMessage(message) ?? message}>` };
        } else shown = this.d.reader.show(r.result, `template ${part.expr}`, redactions);
      }
      shown = shortSecrets(shown, short, redactions) as Shown;
      values[part.expr] = shown;
      text += shown !== null && typeof shown === 'object' ? shown.summary : String(shown);
    }
    const spec = armed.spec;
    this.d.log.info(
      { probe: spec.id, location: armed.where, request: requestId, ...howFound(found), values, ...(Object.keys(readIn).length > 0 ? { readIn } : {}), ...(redactions.length > 0 ? { redactions } : {}), paused: reads.paused, pausedMs: this.d.heldMs() },
      `probe ${spec.id} ${armed.where}${requestId ? ` [${requestId}]` : candidates(found)}: ${text}`,
    );
    return null;
  }

  /**
   * Remembers a request's secret header and query values (redactor.headers and query do), the
   * output dropped; returns its query values that were redacted, for shortSecrets().
   */
  private rememberRequestSecrets(req: IncomingMessage): string[] {
    try {
      this.d.redactor.headers(req.headers, []);
      const url = asArrived(req).url;
      return typeof url === 'string' ? redactedQueryValues(url, this.d.redactor.query(url, [])) : [];
    } catch {
      /* a request whose headers cannot be read: the template's values are still redacted by name */
      return [];
    }
  }

  /** The whole stack as a dump of kind `snapshot`, written to the dump folder. */
  snapshot(armed: Hit, callFrames: PausedFrame[], request: IncomingMessage | null, requestId: string | null): void {
    const scripts = new Map<string, ScriptInfo>();
    for (const [id, s] of this.d.scripts) scripts.set(id, { url: s.url, ...(s.sourceMapURL ? { sourceMapURL: s.sourceMapURL } : {}) });
    // The request's secret query values shorter than the redactor remembers (a 4-character `?code=`)
    // are redacted where a value is exactly one of them (T8).
    const short = request ? this.rememberRequestSecrets(request) : [];
    const read = this.d.reader.read(callFrames, {
      frames: this.d.frames,
      scripts,
      skipUrl: this.d.ownUrl,
      source: (scriptId) => this.d.scriptSource(scriptId),
      properties: (objectId) => this.d.post<{ result: PropertyDescriptor[]; internalProperties?: PropertyDescriptor[] }>('Runtime.getProperties', { objectId, ownProperties: true, generatePreview: true }),
      // As a failure dump reads them: a Map's and a Set's entries, bytes, URLs, Dates.
      call: (objectId, functionDeclaration) => this.d.post<{ result: { value?: unknown } }>('Runtime.callFunctionOn', { objectId, functionDeclaration, returnByValue: true }).result.value,
    });
    const redactions = read.redactions;
    const frames = short.length === 0 ? read.frames : read.frames.map((f) => ({ ...f, locals: shortSecrets(f.locals, short, redactions) as typeof f.locals, ...(f.receiverFields ? { receiverFields: shortSecrets(f.receiverFields, short, redactions) as typeof f.locals } : {}) }));
    this.builder ??= new DumpBuilder(this.d.redactor, this.d.frames);
    const spec = armed.spec;
    const n = ++this.count;
    // The stack text of the paused line gives the awaiting callers (V8 pauses with the synchronous frames only), as a dump's error does.
    const what = { name: 'Snapshot', message: `probe ${spec.id} at ${armed.where}${spec.kind === 'break' ? ' (replay; no debugger attached to this worker)' : ''}, hit ${armed.paused}`, stack: this.d.reads.stackText(callFrames[0]!.callFrameId) };
    const shown = request ? asArrived(request) : null;
    const dump: Dump = this.builder.build(what, { phase: 'probe', reason: 'probe', site: armed.where, frames, redactions, request: shown }, { phase: 'probe', kind: 'snapshot', request: shown, worker: this.d.worker });
    const dir = resolve(dumpDirFrom(process.env, this.d.dumpDir) ?? 'tspuma-dumps');
    const base = resolve(dir, `${dump.time.replace(/[:.]/g, '-')}-${fileHost(hostname())}-${process.pid}-probe${spec.id}-${String(n).padStart(4, '0')}`);
    try {
      ensurePrivateDir(dir);
      writePrivateFile(`${base}.json`, `${JSON.stringify(dump, null, 2)}\n`);
      writePrivateFile(`${base}.txt`, `${renderText(dump)}\n`);
    } catch (err) {
      // Not lost (S13): its text goes to stderr, as a dump's does when its folder is unusable, and
      // the command that waits for it is told where it is and why it has no file.
      const problem = `the dump folder ${dir} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      this.d.log.error({ err, probe: spec.id }, `Probe ${spec.id}: cannot write its snapshot ${base}.json: ${(err as Error).message}; its text is on this process's stderr`);
      process.stderr.write(`${renderText(dump, false, { valuesFile: null })}\n`);
      this.d.event(spec.id, { event: 'snapshot', path: null, problem, requestId });
      return;
    }
    this.d.log.info({ probe: spec.id, location: armed.where, request: requestId, path: `${base}.json`, pausedMs: this.d.heldMs() }, `probe ${spec.id} ${armed.where}${requestId ? ` [${requestId}]` : ''}: snapshot written to ${base}.json`);
    this.d.event(spec.id, { event: 'snapshot', path: `${base}.json`, requestId });
  }
}

/**
 * The request as it arrived: a router (Express's mounted routers) rewrites `req.url` while the
 * request is inside it, where a probe stops; `originalUrl` keeps what the client sent, as the
 * request log and failure dumps show it. The request itself is not changed.
 */
function asArrived(req: IncomingMessage): IncomingMessage {
  const original = (req as { originalUrl?: unknown }).originalUrl;
  return typeof original === 'string' && original !== req.url ? (Object.create(req, { url: { value: original } }) as IncomingMessage) : req;
}

/** A hit line's text for a request not found: ` [request not known; in the app when the probe came: A, B]`, or nothing. */
function candidates(found: FoundRequest | null): string {
  return found !== null && found.req === null ? ` [request not known; in the app when the probe came: ${found.oneOf.map((r) => idOf(r) ?? '?').join(', ')}]` : '';
}

/** A log line's fields saying how its request was found, when not exactly (app-calls.ts). */
function howFound(found: FoundRequest | null): { requestOneOf?: (string | null)[] } {
  return found !== null && found.req === null ? { requestOneOf: found.oneOf.map(idOf) } : {};
}

/**
 * The names an expression reads, for redaction by name: its identifiers (`order.customer.apiKey`
 * -> order, customer, apiKey) and its quoted strings, the keys and accessor arguments a value is
 * read under (`req.query["token"]`, `req.get("x-api-key")`, `c.req.header('cookie')`).
 */
export function identifiers(expr: string): string[] {
  const quoted = /(["'`])((?:\\.|(?!\1)[^\\])*)\1/g;
  const strings = [...expr.matchAll(quoted)].map((m) => m[2]!);
  return [...(expr.replace(quoted, '').match(/[A-Za-z_$][\w$]*/g) ?? []), ...strings];
}

/** The redactor remembers (and scrubs from any text) only values of this length or more (redact.ts). */
const REMEMBERED_FROM = 6;

/** A URL's query values that its redacted form shows as redacted, of fewer than REMEMBERED_FROM characters. */
export function redactedQueryValues(url: string, redacted: string): string[] {
  const q = url.indexOf('?');
  const r = redacted.indexOf('?');
  if (q < 0 || r < 0) return [];
  const before = [...new URLSearchParams(url.slice(q + 1).split('#')[0]).entries()];
  const after = [...new URLSearchParams(redacted.slice(r + 1).split('#')[0]).entries()];
  if (before.length !== after.length) return [];
  return before.flatMap(([, v], i) => (v.length > 0 && v.length < REMEMBERED_FROM && after[i]![1] !== v && after[i]![1].includes('[redacted]') ? [v] : []));
}

/**
 * `value` (a shown value, or frames holding them) with every string that is exactly one of
 * `secrets`, and every quoted occurrence of one inside a summary, replaced by `[redacted]`.
 */
export function shortSecrets(value: unknown, secrets: readonly string[], redactions: string[]): unknown {
  if (secrets.length === 0) return value;
  let hit = false;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (secrets.includes(v)) {
        hit = true;
        return '[redacted]';
      }
      let s = v;
      for (const secret of secrets) if (s.includes(JSON.stringify(secret))) s = s.split(JSON.stringify(secret)).join('"[redacted]"');
      if (s !== v) hit = true;
      return s;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out = walk(value);
  const note = 'a value of the request\'s query that is redacted there (too short to be recognised in other text)';
  if (hit && !redactions.includes(note)) redactions.push(note);
  return out;
}
