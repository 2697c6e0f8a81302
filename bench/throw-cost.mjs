// What one throw at a hot site costs, in callgrind's instructions: a function that throws on every
// call, caught by its caller, with no -d (`plain`), and under -d once its site was captured and
// muted (site-mutes.ts: the second throw there mutes it) (`d`); `d-report` also hands each error to
// Diagnostics.report, which folds it into the first dump as the server does for an app error.
// Run by bench/throw-cost.sh, which zeroes callgrind's counters at the first line this prints and
// dumps them at the second: nothing but the counted loop is in the figure.
//   node bench/throw-cost.mjs plain|d|d-report N
const [mode = 'plain', count = '20000'] = process.argv.slice(2);
const N = Number(count);
let diagnostics = null;
if (mode !== 'plain') {
  const { enableDiagnostics } = await import(new URL('../dist/diagnostics/index.js', import.meta.url).href);
  diagnostics = enableDiagnostics({ write: () => {} });
}
// bench/throw-listener-app.ts's helper.
function price(order) {
  const unit = order.qty > 0 ? 3 : NaN;
  if (Number.isNaN(unit)) throw new Error(`no price for qty ${order.qty}`);
  return unit * order.qty;
}
let folded = 0;
function call(qty) {
  try {
    return price({ qty });
  } catch (err) {
    if (mode === 'd-report' && diagnostics.report(err, { phase: 'app' }).repeat) folded++;
    return -1;
  }
}
// Warm-up: under -d the first throw is captured and the second mutes price; both paths get hot.
for (let i = 0; i < 20000; i++) call(i % 10 === 0 ? 0 : 2);
const go = () => new Promise((resolve) => process.stdin.once('data', resolve));
process.stdout.write('ready\n');
await go();
let sum = 0;
for (let i = 0; i < N; i++) sum += call(0);
const stats = diagnostics ? diagnostics.capturer.stats : null;
process.stdout.write(`${mode}: ${N} throws (sum ${sum}), ${folded} folded into a dump${stats ? `; pauses ${stats.pauses}, captures ${stats.captures}, muted ${stats.muted}` : ''}\n`);
await go();
diagnostics?.close();
process.exit(0);
