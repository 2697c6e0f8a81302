// The resumer thread (see probe-resumer.ts): a session connected to the main thread that hears
// every pause and waits, on a shared counter, for the main thread's in-process handlers to say
// they are done with it; then it resumes it, at once or, for a pause left to a debugger (replay's
// stop), after the hold they named unless the debugger resumed it first. A pause no handler
// claims (a DevTools breakpoint, a live stack) is left to whoever made it. Nothing is sent to the
// main thread while its handlers run: a message would be dispatched inside their evaluations
// (and fail V8's side-effect check there).
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';

const { shared } = workerData as { shared: SharedArrayBuffer };
/** [0]: claims so far; [1]: the hold (ms) of the last claim, 0 for none; [2]: 1 once this thread hears pauses. */
const counter = new Int32Array(shared);
/** How long a pause may take its handlers before it is deemed not theirs. */
const CLAIM_MS = 2000;
let seen = Atomics.load(counter, 0);
let held: NodeJS.Timeout | null = null;

const session = new Session();
session.connectToMainThread();
const resume = () => session.post('Debugger.resume', () => undefined);
session.on('Debugger.paused', () => {
  if (Atomics.wait(counter, 0, seen, CLAIM_MS) === 'timed-out') return;
  seen = Atomics.load(counter, 0);
  const hold = Atomics.load(counter, 1);
  if (hold === 0) return resume();
  held = setTimeout(() => {
    held = null;
    resume();
  }, hold);
});
session.on('Debugger.resumed', () => {
  if (held) clearTimeout(held);
  held = null;
});
session.post('Debugger.enable', () => {
  // From here on every pause is this thread's to resume: the main thread claims each one (request).
  seen = Atomics.load(counter, 0);
  Atomics.store(counter, 2, 1);
  parentPort!.postMessage('ready');
});
// A connected session does not keep a thread alive; this does, until the worker is terminated.
setInterval(() => undefined, 1 << 30);
