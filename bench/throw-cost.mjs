// What one throw at a hot site costs, in callgrind's instructions: a function that throws on every
// call, caught by its caller, with no -d (`plain`), and under -d once its site was captured and
// muted (site-mutes.ts: the second throw there mutes it) (`d`); `d-report` also hands each error to
// Diagnostics.report, which folds it into the first dump as the server does for an app error.
// `cap` starts capture's Capturer alone (no call context, stack filter or console watch), `cap-stacks`
// with app-stacks.ts's filter: the pieces of -d, to tell which one a muted throw's cost comes with.
// Run by bench/throw-cost.sh, which zeroes callgrind's counters at the first line this prints and
// dumps them at the second: nothing but the counted loop is in the figure.
//   node bench/throw-cost.mjs plain|d|d-report|d-off|d-off-made|cap|cap-stacks N
const [mode = 'plain', count = '20000'] = process.argv.slice(2);
const N = Number(count);
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
let diagnostics = null;
// d-off-made: as d-off, and each caught error's frames read by diagnostics/made-at.ts (what telling
// an unpaused failure from another costs without its stack text: bench/README.md, session 22).
const madeKey = mode === 'd-off-made' ? (await import(dist('diagnostics/made-at.js'))).madeKey : null;
let made = 0;
if (mode === 'cap' || mode === 'cap-stacks') {
  const { Capturer } = await import(dist('diagnostics/capture.js'));
  const { Redactor } = await import(dist('diagnostics/redact.js'));
  if (mode === 'cap-stacks') (await import(dist('diagnostics/app-stacks.js'))).installAppStacks();
  const capturer = new Capturer({ frames: 14, perSiteMs: 60_000, globalPerSecond: 20 }, new Redactor(null), () => {});
  capturer.start();
  diagnostics = { capturer, close: () => capturer.stop() };
} else if (mode !== 'plain') {
  const { enableDiagnostics } = await import(dist('diagnostics/index.js'));
  diagnostics = enableDiagnostics({ write: () => {} });
}
// SERVING=1: the process begins serving as a server's does (Diagnostics.serving(): capture.ts's
// keepOptimizedLocals sets --no-analyze-environment-liveness, so optimized frames keep every local
// in their deoptimization data, which a throw's stack walks decode). plain: the flag alone.
if (process.env.SERVING === '1') {
  if (diagnostics?.serving) diagnostics.serving();
  else if (diagnostics) diagnostics.capturer.serving();
  else (await import('node:v8')).setFlagsFromString('--no-analyze-environment-liveness');
}
// LIMIT=N sets Error.stackTraceLimit once -d is on (it raises the app's limit by app-stacks.ts's SPARE).
if (process.env.LIMIT) Error.stackTraceLimit = Number(process.env.LIMIT);
// bench/throw-listener-app.ts's helper. TWO=1: a helper with two throw sites, and a message of
// its own at each throw (`no price for qty -7`): no repeat is matched by its class and message or
// by its shape alone, so a muted repeat's site is read from where its stack starts (debug16.1).
const TWO = process.env.TWO === '1';
const price = TWO
  ? function price(order) {
      if (order.qty > 1e9) throw new RangeError('too many');
      const unit = order.qty > 0 ? 3 : NaN;
      if (Number.isNaN(unit)) throw new Error(`no price for qty ${order.qty}`);
      return unit * order.qty;
    }
  : function price(order) {
      const unit = order.qty > 0 ? 3 : NaN;
      if (Number.isNaN(unit)) throw new Error(`no price for qty ${order.qty}`);
      return unit * order.qty;
    };
/** The quantity of the i-th failing call. */
const failing = TWO ? (i) => -(i % 500) - 1 : () => 0;
let folded = 0;
function call(qty) {
  try {
    return price({ qty });
  } catch (err) {
    if (mode === 'd-report' && diagnostics.report(err, { phase: 'app' }).repeat) folded++;
    if (madeKey !== null && madeKey(err, 4) !== null) made++;
    return -1;
  }
}
// Warm-up: under -d the first throw is captured and the second mutes price; both paths get hot.
// WARMUP=N calls (20000 by default, a tenth of them throwing): with 20000, d-report's counted loop
// still holds TurboFan's first compiles of the report path (bench/README.md, session 23).
for (let i = 0; i < Number(process.env.WARMUP ?? 20000); i++) call(i % 10 === 0 ? failing(i) : 2);
// The counted loop runs in a callback, as a request's listener does (LOOP=async: after a top-level
// await, inside the module's async function, as before session 15). Under -d V8 predicts the
// catcher of every throw inside an async function even with pausing off (it looks for the promise
// the throw would reject): with pausing off a throw in a callback costs about a plain throw, one in
// an async function 24,000 instructions more (bench/README.md, session 15).
// d-off: -d with pausing off for the counted loop (Capturer.ownCode), as in a throw storm, unreported.
const counted = () => {
  let sum = 0;
  if (mode === 'd-off' || mode === 'd-off-made') diagnostics.capturer.ownCode(() => {
    for (let i = 0; i < N; i++) sum += call(failing(i));
  });
  else for (let i = 0; i < N; i++) sum += call(failing(i));
  const stats = diagnostics ? diagnostics.capturer.stats : null;
  process.stdout.write(`${mode}: ${N} throws (sum ${sum}), ${folded} folded into a dump${madeKey ? `, ${made} made keys` : ''}${stats ? `; pauses ${stats.pauses}, captures ${stats.captures}, muted ${stats.muted}${stats.storms !== undefined ? `, storms ${stats.storms}` : ''}` : ''}\n`);
};
const go = () => new Promise((resolve) => process.stdin.once('data', resolve));
process.stdout.write('ready\n');
if (process.env.LOOP === 'async') {
  await go();
  counted();
} else await new Promise((resolve) => process.stdin.once('data', () => resolve(counted())));
await go();
diagnostics?.close();
process.exit(0);
