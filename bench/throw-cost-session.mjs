// What one throw at a hot site costs under a bare same-thread inspector session, muted in other
// ways than -d's whole machinery (bench/throw-cost.mjs): run by `SCRIPT=bench/throw-cost-session.mjs
// bench/throw-cost.sh N MODE...`. Modes: plain (no session); none (Debugger on, pause-on-exceptions
// none); blackbox (all, `price` given break information and blackboxed from the start, as
// site-mutes.ts mutes); condbp (all, a breakpoint with the condition false at the throw instead);
// bbpause (blackboxed in its second pause, as capture mutes); bbcov (and
// Profiler.getBestEffortCoverage in that pause); bbhooks, bbacc, bbawait (bbpause with promise hooks,
// an Error.prepareStackTrace accessor and a limit of 14, or a top-level await before the loop);
// bbread (the first pause reads every frame's scopes and the thrown value, as capture's does);
// bbpat (setBlackboxPatterns with an empty list, as capture sets); bbreassert (pause-on-exceptions
// posted again every 250 ms, as capture does); bbrestrict (bbpause with break information asked for
// `price` alone, restrictToFunction, as site-mutes.ts asks: every other mode's range call gives it
// to every function the range meets, this module's top level too, which then runs interpreted, so
// their throws walk no baseline frame: session 15 found that to be the ~20,000 -d seemed to add);
// bbcaught (bbrestrict with pause-on-exceptions `caught` instead of `all`); bbpatfile (bbpause
// with the whole script blackboxed by Debugger.setBlackboxPatterns instead of ranges, and no break
// information asked for: what a pattern costs against ranges; a whole file, so not a way to mute).
import inspector from 'node:inspector';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const [mode = 'plain', count = '20000'] = process.argv.slice(2);
const N = Number(count);
function price(order) {
  const unit = order.qty > 0 ? 3 : NaN;
  if (Number.isNaN(unit)) throw new Error(`no price for qty ${order.qty}`);
  return unit * order.qty;
}
function call(qty) {
  try {
    return price({ qty });
  } catch (err) {
    return -1;
  }
}
let pauses = 0;
if (mode === 'bbawait') await import('node:v8');
if (mode === 'bbhooks') (await import('node:v8')).promiseHooks.createHook({ init() {}, before() {}, after() {} });
if (mode === 'bbacc') {
  const inner = Error.prepareStackTrace;
  Object.defineProperty(Error, 'prepareStackTrace', { configurable: true, get: () => inner, set: () => {} });
  Error.stackTraceLimit = 14;
}
if (mode !== 'plain') {
  const s = new inspector.Session();
  s.connect();
  const post = (m, p = {}) => { let r, e; s.post(m, p, (err, res) => { e = err; r = res; }); if (e) throw e; return r; };
  let scriptId = null;
  s.on('Debugger.scriptParsed', (m) => { if (m.params.url === import.meta.url) scriptId = m.params.scriptId; });
  post('Debugger.enable');
  post('Debugger.setPauseOnExceptions', { state: mode === 'none' ? 'none' : mode === 'bbcaught' ? 'caught' : 'all' });
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('function price'));
  const end = lines.findIndex((l, i) => i > start && l === '}');
  const throwLine = lines.findIndex((l) => l.includes('throw new Error(`no price'));
  const mute = () => {
    if (mode === 'bbpatfile') return post('Debugger.setBlackboxPatterns', { patterns: [import.meta.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')] });
    if (mode === 'bbcov') post('Profiler.getBestEffortCoverage');
    // bbrestrict: break information for price alone (restrictToFunction, as site-mutes.ts asks);
    // the other modes' range call gives it to every function the range meets, the module's too
    if (mode === 'bbrestrict' || mode === 'bbcaught') post('Debugger.getPossibleBreakpoints', { start: { scriptId, lineNumber: start, columnNumber: 14 }, restrictToFunction: true });
    else post('Debugger.getPossibleBreakpoints', { start: { scriptId, lineNumber: start, columnNumber: 0 }, end: { scriptId, lineNumber: end, columnNumber: 1 } });
    post('Debugger.setBlackboxedRanges', { scriptId, positions: [{ lineNumber: start, columnNumber: 0 }, { lineNumber: end, columnNumber: 1 }] });
  };
  if (mode === 'blackbox' || mode === 'both') mute();
  // bbpause: as capture does, the site pauses twice first and is muted in the second pause
  s.on('Debugger.paused', (m) => {
    pauses++;
    // bbread: the first pause reads every frame's scopes and the thrown value, as capture's does
    if (mode === 'bbread' && pauses === 1) {
      for (const cf of m.params.callFrames) for (const scope of cf.scopeChain) if (scope.object.objectId) post('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true, generatePreview: true });
      if (m.params.data?.objectId) post('Runtime.callFunctionOn', { objectId: m.params.data.objectId, functionDeclaration: 'function () { return 1; }' });
    }
    if (mode.startsWith('bb') && pauses === 2) mute();
    post('Debugger.resume');
  });
  if (mode === 'bbpat') post('Debugger.setBlackboxPatterns', { patterns: [] });
  // bbreassert: pause-on-exceptions posted again every 250 ms, as capture's REASSERT_MS does
  if (mode === 'bbreassert') setInterval(() => post('Debugger.setPauseOnExceptions', { state: 'all' }), 250).unref();
  if (mode === 'condbp' || mode === 'both') {
    post('Debugger.setBreakpoint', { location: { scriptId, lineNumber: throwLine, columnNumber: lines[throwLine].indexOf('throw') }, condition: 'false' });
  }
}
for (let i = 0; i < 20000; i++) call(i % 10 === 0 ? 0 : 2);
const go = () => new Promise((resolve) => process.stdin.once('data', resolve));
process.stdout.write('ready\n');
await go();
let sum = 0;
for (let i = 0; i < N; i++) sum += call(0);
process.stdout.write(`${mode}: ${N} throws (sum ${sum}), pauses ${pauses}\n`);
await go();
process.exit(0);
