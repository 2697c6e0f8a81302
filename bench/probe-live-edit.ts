// The spike behind bench/README.md "Probes", live edit: what V8's `Debugger.setScriptSource` does on
// this node when a probe's gate is compiled into the probed line (`if (__tspumaProbe.g(ID) &&
// (WHEN)) debugger;` inserted before its statement, on the same line), and what a false pass costs
// that way against today's conditional breakpoint. Prints one line per fact; writes its two
// scratch modules (one ES module, one CommonJS file) to a temporary folder it removes.
// `node dist/bench/probe-live-edit.js [RUNS]`.
import inspector from 'node:inspector';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { v8Condition } from '../server/probe-spec.js';
import { syncSession } from './probe-session.js';

const runs = Number(process.argv[2] ?? 200_000);
const { session, post } = syncSession();
const status = (scriptId: string, scriptSource: string): string => post<{ status: string }>('Debugger.setScriptSource', { scriptId, scriptSource }).status;
const source = (scriptId: string): string => post<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId }).scriptSource;

const urls = new Map<string, string>();
const pauses: { reason: string; line: number; column: number }[] = [];
session.on('Debugger.scriptParsed', (m: { params: { scriptId: string; url: string } }) => urls.set(m.params.url, m.params.scriptId));
session.on('Debugger.paused', (m: { params: { reason: string; callFrames: { location: { lineNumber: number; columnNumber: number } }[] } }) => {
  const at = m.params.callFrames[0]!.location;
  pauses.push({ reason: m.params.reason, line: at.lineNumber, column: at.columnNumber });
  post('Debugger.resume');
});
post('Debugger.enable');
let open = false;
const gate = Object.assign((_id: number) => open, { n: (_id: number) => false, g: (_id: number) => open });
Object.defineProperty(globalThis, '__tspumaProbe', { value: gate, enumerable: false, configurable: true });

const dir = mkdtempSync(join(tmpdir(), 'tspuma-live-edit-'));
try {
  const esm = join(dir, 'target.mjs');
  writeFileSync(esm, [
    'export function make(k) {',
    '  return function handler(order) {',
    '    const y = order.total * k; return new Error("at").stack.split("\\n")[1].trim();',
    '  };',
    '}',
    'export async function slow(x) {',
    '  await new Promise((r) => setTimeout(r, 20));',
    '  const z = x + 1; return z;',
    '}',
    'export function price(order) {',
    '  const y = order.total * 2; return y;',
    '}',
    'export function reenter(edit) {',
    '  return edit();',
    '}',
    '',
  ].join('\n'));
  const mod = (await import(pathToFileURL(esm).href)) as { make(k: number): (o: { total: number }) => string; slow(x: number): Promise<number>; reenter(edit: () => string): string; price(o: { total: number }): number };
  const id = urls.get(pathToFileURL(esm).href)!;
  const original = source(id);
  const before = mod.make(2);
  const lines = original.split('\n');
  const guard = 'if (__tspumaProbe.g(1) && (order.total > 100)) debugger; ';
  lines[2] = lines[2]!.replace('const y', `${guard}const y`);
  const edited = lines.join('\n');
  console.log(`column of the stack's frame on the probed line, unedited: ${before({ total: 1 })}`);
  const pending = mod.slow(1);
  console.log(`ES module, another function of the script suspended at an await: ${status(id, edited)}`);
  console.log(`column of the same frame, edited (shifted by the guard's ${guard.length} characters): ${before({ total: 1 })}`);
  open = true;
  pauses.length = 0;
  before({ total: 500 });
  console.log(`a closure made before the edit runs the guard: ${pauses.length === 1 ? `yes, paused (reason "${pauses[0]!.reason}", line ${pauses[0]!.line + 1} column ${pauses[0]!.column + 1})` : 'no'}`);
  open = false;
  await pending;
  const p2 = mod.slow(2);
  const l2 = original.split('\n');
  l2[7] = l2[7]!.replace('const z', 'if (__tspumaProbe.g(2)) debugger; const z');
  console.log(`the edited function itself suspended at an await: ${status(id, l2.join('\n'))}`);
  await p2;
  console.log(`the edited function on the stack: ${mod.reenter(() => status(id, original.replace('return edit();', 'return  edit();')))}`);
  console.log(`restoring the original source: ${status(id, original)}, source identical: ${source(id) === original}`);
  const { breakpointId } = post<{ breakpointId: string }>('Debugger.setBreakpoint', { location: { scriptId: id, lineNumber: 2, columnNumber: 4 } });
  status(id, edited);
  pauses.length = 0;
  before({ total: 1 });
  console.log(`a breakpoint in the edited function after the edit: ${pauses.length === 0 ? 'gone (V8 drops it)' : 'kept'}`);
  post('Debugger.removeBreakpoint', { breakpointId });
  status(id, original);

  // A second session, as DevTools attached to the worker is: its breakpoint set by URL on a line
  // of a function another session then edits (the guard put on the line before), and the source it reads.
  const other = new inspector.Session();
  other.connect();
  let otherPauses = 0;
  other.on('Debugger.paused', () => {
    otherPauses++;
    other.post('Debugger.resume');
  });
  other.post('Debugger.enable');
  other.post('Debugger.setBreakpointByUrl', { url: pathToFileURL(esm).href, lineNumber: 2, columnNumber: 4 });
  before({ total: 1 });
  const seenBefore = otherPauses;
  status(id, original.replace('  return function handler(order) {', '  return function handler(order) { if (__tspumaProbe.g(5)) debugger;'));
  otherPauses = 0;
  before({ total: 1 });
  let otherSource = '';
  other.post('Debugger.getScriptSource', { scriptId: id }, (_e: Error | null, r?: { scriptSource: string }) => (otherSource = r?.scriptSource ?? ''));
  console.log(`a DevTools-like session's breakpoint in the edited function: paused ${seenBefore} time(s) before the edit, ${otherPauses} after; the source it reads has the guard: ${otherSource.includes('__tspumaProbe')}`);
  other.disconnect();
  status(id, original);

  // A CommonJS file edited from scriptParsed, before its first line ran.
  const cjs = join(dir, 'target.cjs');
  writeFileSync(cjs, 'function f(x) {\n  const y = x + 1; return y;\n}\nmodule.exports = { f, atLoad: f(1) };\n');
  let atParse = '';
  const onParsed = (m: { params: { scriptId: string; url: string } }): void => {
    if (m.params.url.endsWith('target.cjs')) atParse = status(m.params.scriptId, source(m.params.scriptId).replace('const y', 'if (__tspumaProbe.g(3)) debugger; const y'));
  };
  session.on('Debugger.scriptParsed', onParsed);
  open = true;
  pauses.length = 0;
  createRequire(import.meta.url)(cjs);
  open = false;
  session.off('Debugger.scriptParsed', onParsed);
  console.log(`CommonJS file edited when parsed, before it ran: ${atParse}; its load-time call paused: ${pauses.length === 1}`);

  // Cost of a false pass: the guard compiled in, against the conditional breakpoint probes use now.
  const perRun = (fn: () => void, n: number): number => {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    return ((performance.now() - t) / n) * 1e6;
  };
  const order = { total: 5 };
  const priced = original.split('\n');
  priced[10] = priced[10]!.replace('const y', guard.replace('(1)', '(4)') + 'const y');
  status(id, original);
  perRun(() => mod.price(order), runs);
  const plain = perRun(() => mod.price(order), runs);
  status(id, priced.join('\n'));
  perRun(() => mod.price(order), runs);
  const guarded = perRun(() => mod.price(order), runs);
  status(id, original);
  const bp = post<{ breakpointId: string }>('Debugger.setBreakpoint', { location: { scriptId: id, lineNumber: 10, columnNumber: 2 }, condition: v8Condition({ id: 4, when: 'order.total > 100' }) });
  const n = Math.max(200, Math.floor(runs / 500));
  const conditional = perRun(() => mod.price(order), n);
  post('Debugger.removeBreakpoint', { breakpointId: bp.breakpointId });
  console.log(`a false pass of "const y = order.total * 2": unprobed ${plain.toFixed(0)} ns, live-edit guard ${guarded.toFixed(0)} ns, conditional breakpoint ${conditional.toFixed(0)} ns (${n} runs)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  session.disconnect();
}
