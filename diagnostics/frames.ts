// Used by capture.ts (same-thread session, at a throw) and inspector/remote.ts (another process,
// paused from outside): turns the protocol's call frames into redacted, source-mapped frames.
import type { Shown } from './model.js';
import type { Redactor } from './redact.js';
import { original, isLibrary, type Original } from './sourcemap.js';

export interface RemoteObject {
  type: string;
  subtype?: string;
  className?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
  objectId?: string;
  preview?: { overflow: boolean; properties: { name: string; type: string; value?: string; subtype?: string }[] };
}
export interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
  scopeChain: { type: string; object: RemoteObject }[];
  this: RemoteObject;
}
export interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
}

export interface CapturedFrame extends Original {
  function: string;
  receiver: string;
  locals: Record<string, Shown>;
  library: boolean;
}

/** Where each script came from: its URL and, for code loaded elsewhere, its source map URL. */
export interface ScriptInfo {
  url: string;
  sourceMapURL?: string;
}

export interface ReadOptions {
  frames: number;
  scripts: Map<string, ScriptInfo>;
  /** Frames whose script URL starts with this are skipped (the reader's own). */
  skipUrl?: string;
  /** Properties of a scope object: synchronous here, prefetched by remote readers. */
  properties(objectId: string): PropertyDescriptor[];
}

const MAX_LOCALS = 24;
const MAX_STRING = 160;
const MAX_PROPS = 8;
const SCOPES = new Set(['local', 'block', 'catch', 'closure']);
/** Closure bindings every compiled module has (esbuild's helpers, the CommonJS wrapper): noise. */
const LOADER_BINDING = /^(__[A-Za-z]+|module|exports|require)$/;

function locate(cf: CallFrame, scripts: Map<string, ScriptInfo>): { url: string; where: Original; library: boolean } {
  const info = scripts.get(cf.location.scriptId);
  const url = cf.url || info?.url || '';
  const where = original(url, cf.location.lineNumber, cf.location.columnNumber, info?.sourceMapURL);
  return { url, where, library: isLibrary(where.file) };
}

/** The scope objects readFrames will ask properties() for, in order (for prefetching). */
export function scopeObjectIds(callFrames: CallFrame[], opts: Omit<ReadOptions, 'properties'>): string[] {
  const ids: string[] = [];
  let count = 0;
  for (const cf of callFrames) {
    if (count >= opts.frames) break;
    const { url, library } = locate(cf, opts.scripts);
    if (opts.skipUrl && url.startsWith(opts.skipUrl)) continue;
    count++;
    for (const scope of cf.scopeChain) {
      if (!SCOPES.has(scope.type) || !scope.object.objectId) continue;
      if (library && scope.type === 'closure') continue;
      ids.push(scope.object.objectId);
    }
  }
  return ids;
}

export class FrameReader {
  constructor(private readonly redactor: Redactor) {}

  read(callFrames: CallFrame[], opts: ReadOptions): { frames: CapturedFrame[]; redactions: string[] } {
    const redactions: string[] = [];
    const frames: CapturedFrame[] = [];
    for (const cf of callFrames) {
      if (frames.length >= opts.frames) break;
      const { url, where, library } = locate(cf, opts.scripts);
      if (opts.skipUrl && url.startsWith(opts.skipUrl)) continue;
      const index = frames.length;
      const locals: Record<string, Shown> = {};
      let count = 0;
      for (const scope of cf.scopeChain) {
        if (!SCOPES.has(scope.type) || !scope.object.objectId) continue;
        if (library && scope.type === 'closure') continue; // a library's closures are noise and slow to read
        for (const prop of opts.properties(scope.object.objectId)) {
          if (count >= MAX_LOCALS || prop.name in locals || !prop.value) continue;
          if (scope.type === 'closure' && LOADER_BINDING.test(prop.name)) continue;
          count++;
          if (this.redactor.isSecretName(prop.name)) {
            locals[prop.name] = '[redacted]';
            redactions.push(`local ${prop.name} (frame ${index})`);
          } else locals[prop.name] = this.show(prop.value, `local ${prop.name}, frame ${index}`, redactions);
        }
      }
      const receiver = this.describe(cf.this, `receiver, frame ${index}`, redactions);
      const cls = cf.this.type === 'object' && cf.this.className && !['Object', 'global', 'Window'].includes(cf.this.className) ? cf.this.className : null;
      const name = cf.functionName || '(anonymous)';
      frames.push({ ...where, function: cls && !name.includes('.') ? `${cls}.${name}` : name, receiver, locals, library });
    }
    return { frames, redactions };
  }

  /** A value for the locals table: primitives as themselves, the rest summarised. */
  show(v: RemoteObject, where: string, redactions: string[]): Shown {
    switch (v.type) {
      case 'string': {
        const s = v.value as string;
        if (this.redactor.isSecretValue(s)) {
          redactions.push(`value of ${where}`);
          return '[redacted]';
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
        return { summary: this.describe(v, where, redactions) };
      default:
        return { summary: this.describe(v, where, redactions) };
    }
  }

  /** "ClassName {a: 1, b: "x"}" with caps on breadth and string length; secrets redacted by name. */
  describe(v: RemoteObject, where: string, redactions: string[]): string {
    if (v.type === 'undefined') return 'undefined';
    if (v.type === 'function') return `function ${(v.description ?? '').split('\n')[0]!.replace(/^(async )?function\s*/, '').slice(0, 60) || '(anonymous)'}`;
    if (v.type === 'string') return JSON.stringify(this.redactor.query(String(v.value), redactions, where));
    if (v.type !== 'object') return v.unserializableValue ?? v.description ?? String(v.value);
    if (v.subtype === 'null') return 'null';
    const head = v.description ?? v.className ?? 'Object';
    const props = v.preview?.properties;
    if (!props || props.length === 0 || v.subtype === 'error') return head.split('\n')[0]!.slice(0, MAX_STRING);
    const visible = props.filter((p) => !p.name.startsWith('Symbol(') && !p.name.startsWith('#')).slice(0, MAX_PROPS);
    if (visible.length === 0) return head.split('\n')[0]!.slice(0, MAX_STRING);
    const array = v.subtype === 'array';
    let secretNext = false; // in ["Authorization", "Bearer x"] the value after a secret header name
    const items = visible.map((p) => {
      const str = p.type === 'string' ? (p.value ?? '') : null;
      const redact = (array ? secretNext : this.redactor.isSecretName(p.name)) || (str !== null && this.redactor.isSecretValue(str));
      secretNext = array && str !== null && this.redactor.isSecretHeader(str);
      if (redact) {
        redactions.push(array ? `element ${p.name} (${where})` : `property ${p.name} (${where})`);
        return array ? '"[redacted]"' : `${p.name}: "[redacted]"`;
      }
      const value = str !== null ? JSON.stringify(this.redactor.query(str, redactions, `${array ? 'element' : 'property'} ${p.name}, ${where}`).slice(0, 60)) : (p.value ?? p.subtype ?? p.type);
      return array ? value : `${p.name}: ${value}`;
    });
    const more = v.preview!.overflow || props.length > visible.length ? ', …' : '';
    return `${head.split('\n')[0]!.slice(0, 60)} ${array ? '[' : '{'}${items.join(', ')}${more}${array ? ']' : '}'}`;
  }
}
