// `valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/als-awaits.mjs MODE N` (bench/README.md, session 9):
// N awaited calls of an async function after an AsyncLocalStorage never ran, ran once (its async hook on), or ran and was disabled.
import { AsyncLocalStorage } from 'node:async_hooks';
const [mode, n] = [process.argv[2], Number(process.argv[3])];
const als = new AsyncLocalStorage();
if (mode !== 'never') als.run(1, () => {});
if (mode === 'disabled') als.disable();
async function step(i) { return i + 1; }
let x = 0;
for (let i = 0; i < n; i++) x = await step(x);
console.log(mode, n, x);
