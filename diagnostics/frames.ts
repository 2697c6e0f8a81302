// Reading frames through the inspector protocol (a same-thread session at a throw, or another
// process paused from outside): the protocol's call frames turned into redacted, source-mapped
// frames with their locals and their receiver's fields.
import { fileURLToPath } from 'node:url';
import type { FrameOrigin, Shown } from './model.js';
import type { Redactor } from './redact.js';
import { isOwnCompiled, originOf } from './culprit.js';
import { lazyOriginal, original, originalName, type Original } from './sourcemap.js';
import { renameIdentifiers, renamesOf, type Rename } from '../server/name-tables.js';
import { rememberSecret, REDACTED } from './redact.js';
import { isBinary, isSecretBinaryName, isSpecial, READ_SPECIAL, showSpecial } from './values.js';
import { isAsyncArrowAt, offsetOf } from './try-scan.js';

export interface RemoteObject {
  type: string;
  subtype?: string;
  className?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
  objectId?: string;
  preview?: { overflow: boolean; properties: { name: string; type: string; value?: string; subtype?: string }[]; entries?: { key?: PreviewValue; value: PreviewValue }[] };
}
/** A value inside V8's object preview (a Map's or Set's entry). */
interface PreviewValue {
  type: string;
  subtype?: string;
  description?: string;
}
export interface Scope {
  type: string;
  object: RemoteObject;
  name?: string;
  startLocation?: { scriptId: string; lineNumber: number; columnNumber: number };
  endLocation?: { scriptId: string; lineNumber: number; columnNumber: number };
}
export interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
  scopeChain: Scope[];
  this: RemoteObject;
  /** Where the frame's function starts (V8 sends it with each paused frame). */
  functionLocation?: { scriptId: string; lineNumber: number; columnNumber: number };
}
export interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
  /** An accessor's getter and setter (neither, and no value: V8 has no value to report). */
  get?: RemoteObject;
  set?: RemoteObject;
}
/** Runtime.getProperties' answer: its `result`, or all of it (then functions get their location). */
export type PropertiesAnswer = PropertyDescriptor[] | { result: PropertyDescriptor[]; internalProperties?: PropertyDescriptor[]; privateProperties?: PropertyDescriptor[] };

export interface CapturedFrame extends Original {
  function: string;
  receiver: string;
  locals: Record<string, Shown>;
  library: boolean;
  origin: FrameOrigin;
  receiverFields?: Record<string, Shown>;
}

/** Where each script came from: its URL and, for code loaded elsewhere, its source map URL. */
export interface ScriptInfo {
  url: string;
  sourceMapURL?: string;
  /** The source's length as V8 reported it (UTF-16 units), where known: a file's text is its source only at that length. */
  length?: number;
}

export interface ReadOptions {
  frames: number;
  scripts: Map<string, ScriptInfo>;
  /** Frames whose script URL starts with this are skipped (the reader's own). */
  skipUrl?: string;
  /**
   * Properties of a scope object, a receiver or a function: synchronous here, prefetched by
   * remote readers (an id that was not prefetched answers []).
   */
  properties(objectId: string): PropertiesAnswer;
  /**
   * Runs a function declaration on an object and returns its result by value (same-thread
   * captures only: Maps, Sets, bytes, URLs and Dates are read this way); absent for remote readers,
   * which show V8's preview instead.
   */
  call?(objectId: string, functionDeclaration: string): unknown;
  /** A script's generated source (same-thread captures): renamed bindings get their source names. */
  source?(scriptId: string): string | null;
}

const MAX_LOCALS = 24;

/** Whether a name is esbuild's `export default` binding of the script at url (`src/hono-app.ts` → `hono_app_default`). */
function isDefaultExportOf(name: string, url: string): boolean {
  const base = url.replace(/[?#].*$/, '').replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
  return name === `${base.replace(/[^\w$]/g, '_')}_default`;
}

/** Offsets where each line of a text starts (the last text's, kept). */
let startsOf: { text: string; starts: number[] } | null = null;
function lineStarts(text: string): number[] {
  if (startsOf?.text === text) return startsOf.starts;
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  startsOf = { text, starts };
  return starts;
}
const MAX_STRING = 160;
/**
 * node:http objects (Express's keep node's class names; tspuma's subclass them) in an app frame show these own
 * fields only: a request's first preview fields are stream internals (`_events`, `_readableState`).
 */
// The request id is not among them: it is made when first read (node-http.ts) and every dump's
// `request:` line names it.
const REQUEST_FIELDS = ['method', 'originalUrl', 'url', 'complete'] as const;
const RESPONSE_FIELDS = ['statusCode', 'statusMessage', 'finished'] as const;
const TELLING_FIELDS: Record<string, readonly string[]> = {
  IncomingMessage: REQUEST_FIELDS,
  ServerResponse: RESPONSE_FIELDS,
  // server/node-http.ts's subclass: what a plain Node listener's response is.
  TspumaResponse: RESPONSE_FIELDS,
};

/** Fields of a receiver, properties of an object summary. */
export const MAX_FIELDS = 12;
/** Objects per read asked for their properties (functions: name, arity, location; objects past V8's 5-property preview). */
const MAX_FUNCTION_LOOKUPS = 64;
const SCOPES = new Set(['local', 'block', 'catch', 'closure', 'module']);
/**
 * A function's own binding V8 reports without a value (under --experimental-value-unavailable,
 * which -d's capture sets once serving and an autopsy or live stack in the paused process): dropped
 * by V8's optimized code (without -d) or a let/const the code has not reached. Shown as such,
 * never as `undefined` (review9.10).
 */
export const VALUE_UNAVAILABLE = '<value unavailable>';
const UNAVAILABLE_SCOPES = new Set(['local', 'block', 'catch']);
/** Closure bindings every compiled module has (esbuild's helpers, the CommonJS wrapper): noise. */
const LOADER_BINDING = /^(__[A-Za-z]+|module|exports|require|__filename|__dirname)$/;
/** esbuild's name for an imported module's binding in CommonJS output (`import_node_http`). */
const IMPORT_BINDING = /^import_/;
/** esbuild's binding for `export default <expression>`: `<file name>_default` (hono_app_default), a second name for the app's own value. */
const DEFAULT_EXPORT_BINDING = /^[A-Za-z_$][\w$]*_default$/;
const NO_RECEIVER = new Set(['global', 'Window', 'Module']);

function locate(cf: CallFrame, scripts: Map<string, ScriptInfo>): { url: string; where: Original; origin: FrameOrigin; library: boolean } {
  const info = scripts.get(cf.location.scriptId);
  const url = cf.url || info?.url || '';
  // tspuma's own compiled code is tspuma's by its path: its position is mapped only when read.
  if (url.startsWith('file:///') && isOwnCompiled(fileURLToPath(url))) {
    return { url, where: lazyOriginal(url, cf.location.lineNumber, cf.location.columnNumber, info?.sourceMapURL), origin: 'tspuma', library: false };
  }
  const where = original(url, cf.location.lineNumber, cf.location.columnNumber, info?.sourceMapURL);
  const origin = originOf(where.file);
  return { url, where, origin, library: origin === 'node' || origin === 'dependency' };
}

/**
 * A CommonJS module's own scope: a closure that starts on the script's first line, where
 * Node's module wrapper (and tsx's, inside it) begins. Its bindings are the module's imports,
 * functions and constants.
 */
function isModuleScope(scope: Scope): boolean {
  return scope.type === 'closure' && scope.startLocation?.lineNumber === 0;
}

/** Receivers whose fields are read: in app frames, and in the top frame when it is tspuma's. */
function readsReceiver(cf: CallFrame, origin: FrameOrigin, index: number): boolean {
  return (origin === 'app' || (origin === 'tspuma' && index === 0)) && cf.this.type === 'object' && cf.this.subtype !== 'null' && Boolean(cf.this.objectId) && !NO_RECEIVER.has(cf.this.className ?? '');
}

function resultOf(answer: PropertiesAnswer): PropertyDescriptor[] {
  return Array.isArray(answer) ? answer : answer.result;
}

/** The objects readFrames will ask properties() for, in order (for prefetching): scopes and receivers. */
export function scopeObjectIds(callFrames: CallFrame[], opts: Omit<ReadOptions, 'properties'>): string[] {
  const ids: string[] = [];
  let count = 0;
  for (const cf of callFrames) {
    if (count >= opts.frames) break;
    const { url, library, origin } = locate(cf, opts.scripts);
    if (opts.skipUrl && url.startsWith(opts.skipUrl)) continue;
    const index = count++;
    for (const scope of cf.scopeChain) {
      if (!SCOPES.has(scope.type) || !scope.object.objectId) continue;
      if (library && (scope.type === 'closure' || scope.type === 'module')) continue;
      ids.push(scope.object.objectId);
    }
    if (readsReceiver(cf, origin, index)) ids.push(cf.this.objectId!);
  }
  return ids;
}

/** A function's name and arity read from its source text (when its properties are not at hand). */
export function functionFromText(description: string): { kind: 'function' | 'class'; name: string; arity: number } {
  const text = description.trimStart();
  const cls = /^class\b\s*([\w$]*)/.exec(text);
  if (cls) return { kind: 'class', name: cls[1] || '(anonymous)', arity: 0 };
  const named = /^(?:async\s+)?(?:function\b\s*\*?\s*([\w$]*)|(?:get\s+|set\s+|static\s+)*\*?\s*([\w$#]+)\s*\()/.exec(text);
  const name = named?.[1] || (named?.[2] && named[2] !== 'function' ? named[2] : '') || '(anonymous)';
  const open = text.indexOf('(');
  const arrow = /^(?:async\s+)?[\w$]+\s*=>/.test(text);
  if (arrow) return { kind: 'function', name, arity: 1 };
  if (open < 0) return { kind: 'function', name, arity: 0 };
  // Parameters before the first default or rest parameter, as Function.length counts them.
  let depth = 0;
  let arity = 0;
  let seen = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) return { kind: 'function', name, arity: arity + (seen ? 1 : 0) };
      depth--;
    } else if (depth === 0 && (c === '=' || text.startsWith('...', i))) return { kind: 'function', name, arity };
    else if (depth === 0 && c === ',') {
      if (seen) arity++;
      seen = false;
    } else if (!/\s/.test(c)) seen = true;
  }
  return { kind: 'function', name, arity };
}

export class FrameReader {
  /** Set for the duration of read(): where properties and script URLs come from. */
  private opts: ReadOptions | null = null;
  private lookups = 0;
  /** The frame being read is the app's: only there are objects and functions read further. */
  private inApp = false;
  /** The source names of the frame's script, when a bundler renamed some (name-tables.ts). */
  private renames: Rename | null = null;

  constructor(private readonly redactor: Redactor) {}

  read(callFrames: CallFrame[], opts: ReadOptions): { frames: CapturedFrame[]; redactions: string[] } {
    this.opts = opts;
    this.lookups = 0;
    try {
      return this.readAll(callFrames, opts);
    } finally {
      this.opts = null;
      this.renames = null;
    }
  }

  private readAll(callFrames: CallFrame[], opts: ReadOptions): { frames: CapturedFrame[]; redactions: string[] } {
    const redactions: string[] = [];
    const frames: CapturedFrame[] = [];
    // A CommonJS module's constants are shown once, in the first frame that sees them.
    const moduleScopesShown = new Set<string>();
    for (const cf of callFrames) {
      if (frames.length >= opts.frames) break;
      const { url, where, origin, library } = locate(cf, opts.scripts);
      if (opts.skipUrl && url.startsWith(opts.skipUrl)) continue;
      const index = frames.length;
      this.inApp = origin === 'app';
      // A bundled chunk's names (its table, read once a script and process): what esbuild renamed
      // in the chunk's one scope is shown as the source has it.
      const renames = (this.renames = renamesOf(url));
      const locals: Record<string, Shown> = {};
      let count = 0;
      cf.scopeChain.forEach((scope) => {
        if (!SCOPES.has(scope.type) || !scope.object.objectId) return;
        if (library && scope.type === 'closure') return; // a library's closures are noise and slow to read
        const moduleScope = isModuleScope(scope) || scope.type === 'module';
        if (moduleScope) {
          if (origin !== 'app') return; // tspuma's and libraries' module state is not the story
          const scriptId = scope.startLocation?.scriptId ?? `${locate(cf, opts.scripts).url}`;
          if (moduleScopesShown.has(scriptId)) return;
          moduleScopesShown.add(scriptId);
        }
        for (const prop of resultOf(opts.properties(scope.object.objectId))) {
          // A binding the compiler renamed (esbuild appends a digit when a name shadows a module
          // constant) is shown under the source's name; the outer binding it shadows, read later
          // under that name, is then left out: the frame's code cannot see it.
          if (renames) prop.name = renames(prop.name);
          else if (!moduleScope && /\d$/.test(prop.name) && this.inApp) prop.name = this.sourceName(cf, scope, prop.name, url, opts);
          if (count >= MAX_LOCALS || prop.name in locals) continue;
          if (!prop.value) {
            if (!prop.get && !prop.set && UNAVAILABLE_SCOPES.has(scope.type)) {
              count++;
              locals[prop.name] = { summary: VALUE_UNAVAILABLE };
            }
            continue;
          }
          if ((scope.type === 'closure' || scope.type === 'module') && (LOADER_BINDING.test(prop.name) || prop.value.type === 'function')) continue;
          if (scope.type === 'closure' && IMPORT_BINDING.test(prop.name)) continue;
          if ((scope.type === 'closure' || moduleScope) && DEFAULT_EXPORT_BINDING.test(prop.name) && isDefaultExportOf(prop.name, url)) continue;
          if (moduleScope && this.looksImported(prop.value)) continue;
          count++;
          locals[prop.name] = this.named(prop.name, prop.value, `local ${prop.name}`, index, redactions);
        }
      });
      // An async arrow has no receiver of its own; V8 reports its caller's (see isAsyncArrowAt).
      const own = !this.asyncArrow(cf, opts);
      let receiver = own ? this.describe(cf.this, `receiver, frame ${index}`, redactions) : 'undefined';
      const receiverFields = own && readsReceiver(cf, origin, index) ? this.fields(cf.this.objectId!, index, redactions) : undefined;
      const className = own && cf.this.type === 'object' && cf.this.className && !['Object', 'global', 'Window'].includes(cf.this.className) ? cf.this.className : null;
      // The receiver of a method of the chunk: an instance of the chunk's class, renamed with it
      // (a value elsewhere may be another script's, whose names this table does not know).
      const cls = className && renames ? renames(className) : className;
      if (className && cls !== className && receiver.startsWith(className)) receiver = `${cls}${receiver.slice(className.length)}`;
      const name = cf.functionName ? (renames ? renameIdentifiers(cf.functionName, renames) : cf.functionName) : '(anonymous)';
      // The position's own properties (accessors when it is mapped lazily), then the rest.
      const frame = Object.defineProperties({}, Object.getOwnPropertyDescriptors(where)) as Original;
      frames.push(Object.assign(frame, { function: cls && !name.includes('.') ? `${cls}.${name}` : name, receiver, locals, library, origin, ...(receiverFields ? { receiverFields } : {}) }));
    }
    return { frames, redactions };
  }

  /** Whether the frame's function is an async arrow (same-thread captures, which read sources; false elsewhere). */
  private asyncArrow(cf: CallFrame, opts: ReadOptions): boolean {
    const at = cf.functionLocation;
    if (!at || !opts.source || cf.this.type !== 'object') return false;
    const src = opts.source(at.scriptId);
    return src !== null && isAsyncArrowAt(src, offsetOf(src, at.lineNumber, at.columnNumber));
  }

  /**
   * The source's name of a binding in a scope, from the source map's `names` at one of its
   * occurrences in the scope's generated text; the compiled name when none says otherwise.
   */
  sourceName(cf: CallFrame, scope: Scope, name: string, url: string, opts: Pick<ReadOptions, 'scripts' | 'source'>): string {
    const scriptId = cf.location.scriptId;
    const src = opts.source?.(scriptId);
    if (!src) return name;
    const script = opts.scripts.get(scriptId);
    const lines = lineStarts(src);
    const at = (loc: { lineNumber: number; columnNumber: number } | undefined, fallback: number) => (loc ? (lines[loc.lineNumber] ?? src.length) + loc.columnNumber : fallback);
    const from = at(scope.startLocation, 0);
    const to = at(scope.endLocation, src.length);
    const re = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}(?![\\w$])`, 'g');
    re.lastIndex = from;
    for (let tries = 0, m = re.exec(src); m !== null && m.index < to && tries < 8; tries++, m = re.exec(src)) {
      let line = 0;
      while (line + 1 < lines.length && lines[line + 1]! <= m.index) line++;
      const named = originalName(url, line, m.index - lines[line]!, script?.sourceMapURL);
      if (named !== null) return named;
    }
    return name;
  }

  /** A module's namespace or exports object: imported, not state. */
  private looksImported(v: RemoteObject): boolean {
    if (v.type === 'function') return true;
    if (v.type !== 'object' || v.subtype) return false;
    if (v.className === 'Module') return true;
    const props = v.preview?.properties ?? [];
    // esbuild's `import * as x` wraps the exports in getters (`accessor` in a preview).
    return props.some((p) => p.name === '__esModule' || p.type === 'accessor') || (props.length > 0 && props.every((p) => p.type === 'function'));
  }

  /**
   * A named value (local, field): "[redacted]" when the name is secret, else shown. An empty one
   * (undefined, null, '') holds no secret and is shown: a token that is undefined is the failure.
   */
  private named(name: string, value: RemoteObject, what: string, index: number, redactions: string[]): Shown {
    if (value.type === 'undefined' || (value.type === 'object' && value.subtype === 'null') || (value.type === 'string' && value.value === '')) return this.show(value, `${what}, frame ${index}`, redactions);
    if (this.redactor.isSecretName(name) || (isBinary(value) && isSecretBinaryName(name)) || (value.type === 'string' && this.redactor.isSecretStringName(name))) {
      if (value.type === 'string') rememberSecret(value.value);
      redactions.push(`${what} (frame ${index})`);
      return REDACTED;
    }
    return this.show(value, `${what}, frame ${index}`, redactions);
  }

  /** The receiver's own data fields, up to MAX_FIELDS (then "…": "N more"). */
  private fields(objectId: string, index: number, redactions: string[]): Record<string, Shown> | undefined {
    const answer = this.opts!.properties(objectId);
    // ES private fields (`#balanceCents`) after the public ones: the inspector hands them apart.
    const privates = Array.isArray(answer) ? [] : (answer.privateProperties ?? []);
    const props = [...resultOf(answer), ...privates].filter((p) => p.value && !p.name.startsWith('Symbol(') && p.value.type !== 'function');
    if (props.length === 0) return undefined;
    const out: Record<string, Shown> = {};
    for (const p of props.slice(0, MAX_FIELDS)) out[p.name] = this.named(p.name, p.value!, `field ${p.name}`, index, redactions);
    if (props.length > MAX_FIELDS) out['…'] = { summary: `${props.length - MAX_FIELDS} more` };
    return out;
  }

  /** A value for the locals table: primitives as themselves, the rest summarised. */
  show(v: RemoteObject, where: string, redactions: string[]): Shown {
    switch (v.type) {
      case 'string': {
        const s = v.value as string;
        if (this.redactor.isSecretValue(s) || this.redactor.isCardNumber(s)) {
          rememberSecret(s);
          redactions.push(`value of ${where}`);
          return REDACTED;
        }
        const q = this.redactor.query(s, redactions, where);
        return q.length > MAX_STRING ? `${q.slice(0, MAX_STRING)}…` : q;
      }
      case 'number':
        return v.unserializableValue !== undefined ? { summary: v.unserializableValue } : (v.value as number);
      case 'boolean':
        return v.value as boolean;
      case 'object':
        if (v.subtype === 'null') return null;
        return { summary: this.special(v, where, redactions) ?? this.describe(v, where, redactions) };
      default:
        return { summary: this.describe(v, where, redactions) };
    }
  }

  /** A Map, Set, byte array, URL or Date read in the paused process (same-thread captures only). */
  private special(v: RemoteObject, where: string, redactions: string[]): string | null {
    if (!v.objectId || !this.opts?.call || !isSpecial(v) || this.lookups >= MAX_FUNCTION_LOOKUPS) return null;
    this.lookups++;
    try {
      return showSpecial(this.opts.call(v.objectId, READ_SPECIAL), this.redactor, redactions, where);
    } catch {
      return null;
    }
  }

  /**
   * A function as its name, arity and location (`function take/1 at app.ts:9`), never its
   * source text: the properties when at hand, else what the text's first line says.
   */
  private fn(v: RemoteObject): string {
    const parsed = functionFromText(v.description ?? '');
    let name = parsed.name;
    let arity = parsed.arity;
    let at = '';
    if (v.objectId && this.opts && this.inApp && this.lookups < MAX_FUNCTION_LOOKUPS) {
      this.lookups++;
      const answer = this.opts.properties(v.objectId);
      for (const p of resultOf(answer)) {
        if (p.name === 'name' && typeof p.value?.value === 'string' && p.value.value !== '') name = p.value.value;
        if (p.name === 'length' && typeof p.value?.value === 'number') arity = p.value.value;
      }
      const loc = Array.isArray(answer) ? undefined : answer.internalProperties?.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as CallFrame['location'] | undefined;
      const script = loc && this.opts.scripts.get(loc.scriptId);
      if (loc && script) {
        const o = original(script.url, loc.lineNumber, loc.columnNumber, script.sourceMapURL);
        at = ` at ${o.file}:${o.line}`;
        // A function of a bundled chunk: its name as its source has it (its own chunk's table).
        const renames = renamesOf(script.url);
        if (renames) name = renames(name);
      }
    }
    return parsed.kind === 'class' ? `class ${name}${at}` : `function ${name}/${arity}${at}`;
  }

  /**
   * V8 previews an object with its first 5 properties; a plain object that has more is read
   * whole (up to MAX_FIELDS shown), within the per-read budget. Remote readers that did not
   * prefetch it answer [] and the preview stands.
   */
  private fullPreview(v: RemoteObject): NonNullable<RemoteObject['preview']>['properties'] | null {
    if (!v.preview?.overflow || !v.objectId || !this.opts || !this.inApp || v.subtype || this.lookups >= MAX_FUNCTION_LOOKUPS) return null;
    this.lookups++;
    let own = resultOf(this.opts.properties(v.objectId)).filter((p) => p.value && p.name !== '__proto__');
    // node's request and response objects: the fields that tell which one it is, not its internals.
    const telling = TELLING_FIELDS[v.className ?? ''];
    if (telling) own = telling.flatMap((name) => own.filter((p) => p.name === name));
    else if (own.length <= v.preview.properties.length) return null;
    return own.slice(0, MAX_FIELDS + 1).map((p) => {
      const x = p.value!;
      const value = x.type === 'string' ? String(x.value) : x.type === 'object' ? (x.subtype === 'null' ? 'null' : (x.description ?? x.className ?? 'Object').split('\n')[0]) : (x.unserializableValue ?? x.description ?? String(x.value));
      return { name: p.name, type: x.type, value, ...(x.subtype ? { subtype: x.subtype } : {}) };
    });
  }

  /** "ClassName {a: 1, b: "x"}" with caps on breadth and string length; secrets redacted by name and value. */
  describe(v: RemoteObject, where: string, redactions: string[]): string {
    if (v.type === 'undefined') return 'undefined';
    if (v.type === 'function') return this.fn(v);
    if (v.type === 'string') return JSON.stringify(this.redactor.query(String(v.value), redactions, where));
    if (v.type !== 'object') return v.unserializableValue ?? v.description ?? String(v.value);
    if (v.subtype === 'null') return 'null';
    // An error's description is its stack, whose first line is its message.
    const head = this.redactor.query((v.description ?? v.className ?? 'Object').split('\n')[0]!, redactions, where);
    const props = this.fullPreview(v) ?? v.preview?.properties;
    if (!props || props.length === 0 || v.subtype === 'error') return head.slice(0, MAX_STRING);
    // Data fields, not methods: a framework's context object (Hono's Context) holds its methods as
    // own properties; they are left out when it has data (`N methods` says how many).
    // An array's elements are its index properties (an Arguments object's preview adds `callee`).
    const named = props.filter((p) => !p.name.startsWith('Symbol(') && (v.subtype !== 'array' || /^\d+$/.test(p.name)));
    const data = v.subtype === 'array' ? named : named.filter((p) => p.type !== 'function');
    const methods = named.length - data.length;
    const visible = (data.length > 0 ? data : named).slice(0, MAX_FIELDS);
    if (visible.length === 0) return head.slice(0, MAX_STRING);
    const array = v.subtype === 'array';
    let secretNext = false; // in ["Authorization", "Bearer x"] the value after a secret header name
    const items = visible.map((p) => {
      const str = p.type === 'string' ? (p.value ?? '') : null;
      const redact = (array ? secretNext : this.redactor.isSecretName(p.name)) || (str !== null && (this.redactor.isSecretValue(str) || this.redactor.isCardNumber(str) || (!array && this.redactor.isSecretStringName(p.name))));
      // A flat name/value array (node's rawHeaders): the value after a secret name.
      secretNext = array && str !== null && this.redactor.isSecretNameToken(str);
      if (redact) {
        if (str !== null) rememberSecret(str);
        redactions.push(array ? `element ${p.name} (${where})` : `property ${p.name} (${where})`);
        return array ? '"[redacted]"' : `${p.name}: "[redacted]"`;
      }
      // An error held in a property (a reply's `error`) previews as its stack: its first line, the message, is shown.
      const other = p.subtype === 'error' && p.value ? this.redactor.query(p.value.split('\n')[0]!, redactions, `property ${p.name}, ${where}`) : (p.value ?? p.subtype ?? p.type);
      const value = str !== null ? JSON.stringify(this.redactor.query(str, redactions, `${array ? 'element' : 'property'} ${p.name}, ${where}`).slice(0, 60)) : p.type === 'function' ? 'function' : other;
      return array ? value : `${p.name}: ${value}`;
    });
    const more = (props !== v.preview?.properties ? props.length > MAX_FIELDS : v.preview!.overflow) || data.length > visible.length ? ', …' : '';
    if (methods > 0 && data.length > 0) items.push(`${methods} method(s)`);
    return `${head.slice(0, 60)} ${array ? '[' : '{'}${items.join(', ')}${more}${array ? ']' : '}'}`;
  }
}
