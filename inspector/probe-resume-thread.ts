// The resumer thread (see probe-resumer.ts): a session connected to the main thread that carries
// out each resume the main thread's in-process handlers claim (a shared counter they add one to,
// the last thing a handler does): at once or, for a pause left to a debugger (replay's stop), after
// the hold they named unless the pause ends first. A pause no handler claims (a DevTools
// breakpoint, a live stack) is left to whoever made it. Nothing is sent to the main thread while
// its handlers run: a message would be dispatched inside their evaluations (and fail V8's
// side-effect check there).
//
// Claims are awaited with Atomics.waitAsync, with no deadline: a claim is carried out however late
// it comes. The thread used to wait for one, blocked, for 2 s after it heard each pause and then
// deem the pause not the handlers'. A handler slower than that (a snapshot at a load of 30-40:
// 2.25 s, review14.8) then lost its resume for good, the worker staying paused until workerTimeout
// killed it (replay.test's "socket hang up", tests20.5), and its claim, left on the counter, was
// taken as the next pause's at once, while that pause's handlers ran.
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';

const { shared } = workerData as { shared: SharedArrayBuffer };
/** [0]: claims so far; [1]: the hold (ms) of the last claim, 0 for none; [2]: 1 once this thread hears pauses. */
const counter = new Int32Array(shared);
/**
 * Claims carried out so far. Read before this session connects: a claim made before it could
 * not have been lost (the in-process resume works with no session from another thread), one made
 * after it may have been, and is carried out once this session hears pauses.
 */
let seen = Atomics.load(counter, 0);
/** Atomics.waitAsync (Node 16+; typed from ES2024's lib, which the project's target does not take in). */
const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): { async: true; value: Promise<string> } | { async: false; value: string } }).waitAsync;
/** Pauses and resumes this session has heard (they alternate: one pause at most is current). */
let paused = 0;
let resumed = 0;
/** The pause left to a debugger (its number in `paused`), resumed when the timer fires unless it ended first. */
let held: { pause: number; timer: NodeJS.Timeout } | null = null;

const session = new Session();
session.connectToMainThread();
const resume = () => session.post('Debugger.resume', () => undefined);

session.on('Debugger.paused', () => void paused++);
session.on('Debugger.resumed', () => {
  resumed++;
  if (held && resumed >= held.pause) {
    clearTimeout(held.timer);
    held = null;
  }
});

/**
 * Leaves the claimed pause to a debugger for `hold` ms. Which pause it is: the one current once the
 * main thread answers a message sent now (it answers in that pause's loop, its handlers done, and
 * this session hears its events in order), so a resume of an earlier pause heard late does not end
 * the hold, and a pause a debugger already resumed is not held.
 */
function holdThenResume(hold: number): void {
  session.post('Runtime.getIsolateId', () => {
    if (paused <= resumed) return;
    if (held) clearTimeout(held.timer);
    const pause = paused;
    held = {
      pause,
      timer: setTimeout(() => {
        held = null;
        if (resumed < pause) resume();
      }, hold),
    };
  });
}

/** Carries out the claims made since the last look (one resume for several: a pause is resumed once), then waits for the next. */
function onClaims(): void {
  const claims = Atomics.load(counter, 0);
  if (claims !== seen) {
    seen = claims;
    const hold = Atomics.load(counter, 1);
    if (held) {
      clearTimeout(held.timer);
      held = null;
    }
    if (hold === 0) resume();
    else holdThenResume(hold);
  }
  const next = waitAsync(counter, 0, seen);
  if (next.async) void next.value.then(onClaims);
  else queueMicrotask(onClaims);
}

session.post('Debugger.enable', () => {
  // From here on every claimed pause is this thread's to resume; claims made while it started
  // (counted, not carried out: one may hold a pause Node keeps for this session) are carried out now.
  Atomics.store(counter, 2, 1);
  onClaims();
  parentPort!.postMessage('ready');
});
// A connected session does not keep a thread alive; this does, until the worker is terminated.
setInterval(() => undefined, 1 << 30);
