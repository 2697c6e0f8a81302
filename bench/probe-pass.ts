// What one run of a probed line costs, by the condition V8 evaluates there (nothing pauses): runs
// a loop body N times under an in-process breakpoint with that condition. Meant for instruction
// counts, which do not drift with the machine's load: run it under
// `valgrind --tool=callgrind --callgrind-out-file=/dev/null node dist/bench/probe-pass.js FORM N`
// for N = 0 and N = 300 and divide the difference of the "Collected" totals by 300 (bench/README.md).
import { PROBE_GATE_KEY, v8Condition } from '../server/probe-spec.js';
import { syncSession } from './probe-session.js';

const { post } = syncSession();

const never = Object.assign((_id: number) => false, { n: (_id: number) => false });
Object.defineProperty(globalThis, PROBE_GATE_KEY, { value: never, enumerable: false, configurable: true });
(globalThis as Record<symbol, unknown>)[Symbol.for('tspuma.probe')] = never;

/** The probed line is the loop body (the function's fourth line). */
function target(n: number, order: { total: number }): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += (i % 7) + order.total;
  }
  return s;
}

const FORMS: Record<string, string> = {
  false: 'false',
  // The probes' condition before 18:30 UTC: the gate found through Symbol.for at every run.
  symbolGateWhen: 'globalThis[Symbol.for("tspuma.probe")].n(1) || ((order.total > 100\n) && globalThis[Symbol.for("tspuma.probe")](1))',
  gate: v8Condition({ id: 1, when: null }),
  gateWhen: v8Condition({ id: 1, when: 'order.total > 100' }),
};
const [form = 'gateWhen', runs = '300'] = process.argv.slice(2);
if (!(form in FORMS)) throw new Error(`FORM is one of ${Object.keys(FORMS).join(', ')}`);
post('Debugger.enable');
(globalThis as Record<string, unknown>).__probePassTarget = target;
const { result } = post<{ result: { objectId: string } }>('Runtime.evaluate', { expression: 'globalThis.__probePassTarget' });
const { internalProperties } = post<{ internalProperties: { name: string; value?: { value?: { scriptId: string; lineNumber: number } } }[] }>('Runtime.getProperties', { objectId: result.objectId, ownProperties: true });
const at = internalProperties.find((p) => p.name === '[[FunctionLocation]]')!.value!.value!;
post('Debugger.setBreakpoint', { location: { scriptId: at.scriptId, lineNumber: at.lineNumber + 3, columnNumber: 0 }, condition: FORMS[form] });
console.log(`${form}: ${target(Number(runs), { total: 5 })}`);
