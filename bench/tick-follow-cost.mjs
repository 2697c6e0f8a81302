// What debug mode's call context (diagnostics/call-context.ts) adds to process.nextTick, in
// callgrind's instructions: N rounds, one a setImmediate, of a call that queues three ticks, the
// first of which queues two more (seven process.nextTick calls a round, six of them looked up
// from inside a tick, as a request's are: bench/README.md, session 17). Run by
// bench/tick-follow-cost.sh, which takes the difference of two round counts, so boot and warm-up
// cancel out.
//   node bench/tick-follow-cost.mjs plain|d N [CHECKOUT]   (CHECKOUT: a built checkout, default this one)
const [mode = 'd', count = '20000', root] = process.argv.slice(2);
const N = Number(count);
const base = root ? new URL(`file://${root.replace(/\/?$/, '/')}`) : new URL('../', import.meta.url);
let context = null;
if (mode !== 'plain') {
  const { CallContext } = await import(new URL('dist/diagnostics/call-context.js', base).href);
  context = new CallContext();
  context.enable();
}
const call = { id: 1 };
let sum = 0;
const leaf = (x) => {
  sum += x;
};
const first = (x) => {
  sum += x;
  process.nextTick(leaf, 1);
  process.nextTick(leaf, 1);
};
const body = () => {
  process.nextTick(first, 1);
  process.nextTick(leaf, 2);
  process.nextTick(leaf, 3);
};
let i = 0;
const round = () => {
  if (context) context.run(call, body, 0, 0);
  else body();
  if (++i < N) setImmediate(round);
  else setImmediate(() => process.stdout.write(`${mode}: ${N} rounds (sum ${sum})\n`));
};
round();
