// What a debugger reads of the locals of hot, optimized (TurboFan) code at a throw, shape by
// shape: the question behind capture.ts's keepOptimizedLocals (whether -d keeps V8's
// --no-analyze-environment-liveness, which costs every request, bench/README.md session 23).
// Each shape runs 20,000 rounds (its functions optimized, the throwing branch never taken), then
// throws once under a pause on exceptions; printed: the locals of the two top frames that read
// as unavailable (V8's --experimental-value-unavailable, as -d sets it) and the throwing
// function's optimization state. A let/const not reached yet reads unavailable too (`parsed`).
//   node --allow-natives-syntax bench/optimized-locals.mjs                                     V8's default
//   node --allow-natives-syntax --no-analyze-environment-liveness bench/optimized-locals.mjs   as -d serves today
import inspector from 'node:inspector';
import v8 from 'node:v8';

v8.setFlagsFromString('--experimental-value-unavailable');
const optimized = (() => {
  try {
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    return (f) => ((status(f) & 16) !== 0 ? 'optimized' : 'not optimized');
  } catch {
    return () => 'state unknown (run with --allow-natives-syntax)';
  }
})();

const session = new inspector.Session();
session.connect();
session.post('Debugger.enable');
session.post('Debugger.setPauseOnExceptions', { state: 'all' });
let seen = [];
// The inspector answers an in-process session synchronously: all is read before the resume.
session.on('Debugger.paused', ({ params }) => {
  for (const frame of params.callFrames.slice(0, 2)) {
    for (const scope of frame.scopeChain.filter((s) => s.type === 'local' || s.type === 'block')) {
      session.post('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true }, (err, r) => {
        if (err) throw err;
        const lost = r.result.filter((p) => p.value === undefined).map((p) => p.name);
        seen.push(`${frame.functionName} ${scope.type} ${r.result.length - lost.length}/${r.result.length}${lost.length > 0 ? ` (unavailable: ${lost.join(' ')})` : ''}`);
      });
    }
  }
  session.post('Debugger.resume');
});

const A = { unit: 3, stock: 1e6 };
const C = { unit: 11, stock: 5 };
const cart = Array.from({ length: 40 }, (_, i) => [A, 3 + (i % 3)]);
const bad = [[A, 3], [C, 6]];
// Two copies of one helper, so each shape's optimized code is its own.
function priceLine(item, qty, discount) {
  const gross = item.unit * qty;
  const off = Math.floor((gross * discount) / 100);
  const net = gross - off;
  if (qty > item.stock) throw new RangeError(`only ${item.stock} left (net ${net})`);
  return net;
}
function priceLineToo(item, qty, discount) {
  const gross = item.unit * qty;
  const off = Math.floor((gross * discount) / 100);
  const net = gross - off;
  if (qty > item.stock) throw new RangeError(`only ${item.stock} left (net ${net})`);
  return net;
}
function syncRoute(lines, discount) {
  const label = `sync ${lines.length}`;
  let total = 0;
  for (const [item, qty] of lines) total += priceLine(item, qty, discount);
  return total + label.length;
}
async function asyncRoute(lines, discount) {
  const label = `async ${lines.length}`;
  await null;
  let total = 0;
  for (const [item, qty] of lines) total += priceLineToo(item, qty, discount);
  return total + label.length;
}
async function asyncOwnThrow(lines, discount) {
  const label = `own ${lines.length}`;
  await null;
  let total = 0;
  for (const [item, qty] of lines) {
    const gross = item.unit * qty;
    const off = Math.floor((gross * discount) / 100);
    const net = gross - off;
    if (qty > item.stock) throw new RangeError(`only ${item.stock} left (net ${net})`);
    total += net;
  }
  return total + label.length;
}
function readJson(text) {
  const length = text.length;
  const parsed = JSON.parse(text);
  const keys = Object.keys(parsed).length;
  return length + keys;
}
function jsonRoute(texts) {
  const tag = `json ${texts.length}`;
  let n = 0;
  for (const t of texts) n += readJson(t);
  return n + tag.length;
}
const texts = Array.from({ length: 40 }, (_, i) => `{"a":${i},"b":2}`);

const shapes = [
  ['a helper inlined in a sync caller, throwing in its untaken branch', () => syncRoute(cart, 10), () => syncRoute(bad, 10), priceLine],
  ['the same helper in an async caller (after an await)', () => asyncRoute(cart, 10), () => asyncRoute(bad, 10), priceLineToo],
  ['an async function throwing in its own loop', () => asyncOwnThrow(cart, 10), () => asyncOwnThrow(bad, 10), asyncOwnThrow],
  ['JSON.parse throwing inside a hot helper', () => jsonRoute(texts), () => jsonRoute(['{"a":1}', '{"a":']), jsonRoute],
];
for (const [name, warm, fail, fn] of shapes) {
  for (let i = 0; i < 20_000; i++) await warm();
  const state = optimized(fn);
  seen = [];
  try {
    await fail();
  } catch {
    // The throw is the point.
  }
  console.log(`${name} (${fn.name} ${state}): ${seen.join('; ')}`);
}
session.disconnect();
