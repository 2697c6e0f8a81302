// What one run of a probed line costs, by the condition V8 evaluates there (nothing pauses): runs
// a loop body N times under an in-process breakpoint with that condition (or, `liveEdit`, with the
// gate compiled into the script by live edit; `none`: no probe). Meant for instruction
// counts, which do not drift with the machine's load: run it under
// `valgrind --tool=callgrind --callgrind-out-file=/dev/null node dist/bench/probe-pass.js FORM N`
// for N = 0 and N = 300 and divide the difference of the "Collected" totals by 300 (bench/README.md).
import { PROBE_GATE_KEY, v8Condition } from '../server/probe-spec.js';
import { syncSession } from './probe-session.js';
import { target } from './probe-pass-target.js';
import { guardPlace, guardText, withGuards } from '../inspector/probe-edits.js';
import { compileWhen } from '../inspector/probe-when-compile.js';
import { chainEnd, primitive, read, readOptional, takeWhen, UNDECIDED } from '../inspector/probe-when-gate.js';

const { post } = syncSession();

// The gate saying no; for a compiled --when, the site armed (f) and the condition's value taken and found false (w).
const never = Object.assign((_id: number) => false, {
  n: (_id: number) => false,
  e: (_n: number) => false,
  f: (_n: number) => takeWhen() >= 0,
  w: (_n: number, _id: number, v: unknown) => takeWhen() === 0 && v === true,
  r: read,
  o: readOptional,
  c: chainEnd,
  p: primitive,
  U: UNDECIDED,
});
Object.defineProperty(globalThis, PROBE_GATE_KEY, { value: never, enumerable: false, configurable: true });
(globalThis as Record<symbol, unknown>)[Symbol.for('tspuma.probe')] = never;

const FORMS: Record<string, string> = {
  // No probe: what the loop costs by itself.
  none: '',
  // The gate compiled into the script by live edit (inspector/probe-edits.ts), its gate saying no.
  liveEdit: '',
  // The same with `--when 'order.total > 100'` compiled into it (inspector/probe-when-compile.ts): false at each run.
  liveEditWhen: 'order.total > 100',
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
const probed = { scriptId: at.scriptId, lineNumber: at.lineNumber + 4, columnNumber: 0 };
if (form === 'liveEdit' || form === 'liveEditWhen') {
  const { scriptSource } = post<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId: at.scriptId });
  const column = scriptSource.split('\n')[probed.lineNumber]!.search(/\S/);
  const place = guardPlace(scriptSource, true, probed.lineNumber, column, 1);
  if (!place) throw new Error('no place for a guard before the probed line');
  let text = guardText(1);
  if (form === 'liveEditWhen') {
    const compiled = compileWhen(FORMS[form]!, place.scope, { gate: PROBE_GATE_KEY });
    if (!compiled.ok) throw new Error(`not compiled: ${compiled.reason}`);
    text = guardText(1, `${PROBE_GATE_KEY}.w(1,1,${compiled.code})`);
  }
  const { status } = post<{ status: string }>('Debugger.setScriptSource', { scriptId: at.scriptId, scriptSource: withGuards(scriptSource, [{ offset: place.offset, n: 1, text }]) });
  if (status !== 'Ok') throw new Error(`live edit refused: ${status}`);
} else if (form !== 'none') post('Debugger.setBreakpoint', { location: probed, condition: FORMS[form] });
console.log(`${form}: ${target(Number(runs), { total: 5 })}`);
