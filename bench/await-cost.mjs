// One round of async work (an async function awaiting another's result, awaited in turn: two
// awaits, two async calls) under what -d turns on in V8 (bench/await-cost.sh counts it under
// callgrind): `hooks`, context promise hooks as -d's call context installs them
// (diagnostics/call-context.ts: init marks the promise with the current call, before/after switch
// it); `debug`, an inspector session with the Debugger domain enabled and pausing on all
// exceptions, as capture.ts's Capturer.start (nothing throws here, so nothing pauses); `none`
// with it pausing on none. A V8 isolate with a debugger enabled sends every await through the
// runtime (its throwaway promise and catch-prediction marks); promise hooks alone do not.
//   node bench/await-cost.mjs MODES ROUNDS     (MODES: plain, or hooks,debug,none joined by commas)
import inspector from 'node:inspector';
import { promiseHooks } from 'node:v8';

const modes = new Set((process.argv[2] ?? 'plain').split(','));
const rounds = Number(process.argv[3] ?? 10000);
if (modes.has('hooks')) {
  const kCall = Symbol('call');
  let now;
  const saved = [];
  promiseHooks.createHook({
    init(promise) {
      if (now !== undefined) promise[kCall] = now;
    },
    before(promise) {
      saved.push(now);
      now = promise[kCall];
    },
    after() {
      now = saved.pop();
    },
  });
}
if (modes.has('debug') || modes.has('none')) {
  const session = new inspector.Session();
  session.connect();
  session.post('Debugger.enable');
  session.post('Debugger.setPauseOnExceptions', { state: modes.has('none') ? 'none' : 'all' });
}
async function leaf(i) {
  return i;
}
async function middle(i) {
  const v = await leaf(i);
  return v + 1;
}
let total = 0;
for (let i = 0; i < rounds; i++) total += await middle(i);
if (total !== (rounds * (rounds + 1)) / 2) throw new Error(`wrong total ${total}`);
