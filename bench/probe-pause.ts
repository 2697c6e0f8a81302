// What one probe pause costs the process, by how it is resumed: `inproc` (an in-process session
// resumes it from its Debugger.paused handler: a process nothing outside can attach to) or
// `thread` (the same, with the resumer thread's session attached and carrying the resume out:
// inspector/probe-resumer.ts), at a stack DEPTH frames deep (an Express route runs about 20 deep).
// Meant for instruction counts: `valgrind --tool=callgrind --callgrind-out-file=/dev/null node
// dist/bench/probe-pause.js MODE N DEPTH` for N = 0 and N = 200, the difference of the "Collected"
// totals divided by 200 (every thread counted); it also prints wall and CPU time per pause.
import { startResumer } from '../inspector/probe-resumer.js';
import { syncSession } from './probe-session.js';

const mode = process.argv[2] === 'thread' ? 'thread' : 'inproc';
const n = Number(process.argv[3] ?? 200);
const depth = Number(process.argv[4] ?? 20);
const resumer = mode === 'thread' ? await startResumer() : null;
const { session, post } = syncSession();
post('Debugger.enable');
let pauses = 0;
session.on('Debugger.paused', () => {
  pauses++;
  post('Debugger.resume');
  resumer?.request();
});

function target(x: number): number {
  const y = x + 1;
  return y;
}
function deep(d: number, x: number): number {
  return d === 0 ? target(x) : deep(d - 1, x) + 0;
}
const g = globalThis as Record<string, unknown>;
g.__probePauseTarget = target;
const { result } = post<{ result: { objectId: string } }>('Runtime.evaluate', { expression: 'globalThis.__probePauseTarget' });
const { internalProperties } = post<{ internalProperties: { name: string; value: { value: { scriptId: string; lineNumber: number } } }[] }>('Runtime.getProperties', { objectId: result.objectId, ownProperties: true });
const at = internalProperties.find((p) => p.name === '[[FunctionLocation]]')!.value.value;
post('Debugger.setBreakpoint', { location: { scriptId: at.scriptId, lineNumber: at.lineNumber + 1, columnNumber: 0 } });
const wall = performance.now();
const cpu = process.cpuUsage();
for (let i = 0; i < n; i++) deep(depth, i);
const ms = performance.now() - wall;
const used = process.cpuUsage(cpu);
process.stdout.write(`${mode}: ${pauses} pauses at depth ${depth}: ${n ? ((ms * 1000) / n).toFixed(1) : 0} us wall, ${n ? ((used.user + used.system) / n).toFixed(1) : 0} us CPU (main thread's process) per pause\n`);
await resumer?.close();
