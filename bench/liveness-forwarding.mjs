// Which call shapes TurboFan still reduces under -d's V8 flag (--no-analyze-environment-liveness,
// capture.ts keepOptimizedLocals) and with a debugger session enabled: a wrapper forwarding its
// own arguments (a rest parameter, `arguments`, a spread) to a function it closes over, with and
// without a try/catch around the call; and node's own process.nextTick, whose argument check is
// such a wrapper in node 20 (the callback checked through a rest-parameter forward in a try).
// Printed per shape: whether the forwarded-to function was inlined into the hot caller (V8's
// --trace-turbo-inlining, counted in a child process), for the four combinations. Inlining and
// the direct call go together: a forward V8 does not turn into a direct call stays a
// CallWithArrayLike/CallVarargs call (bench/README.md, session 25, dhappy). Deterministic: no
// timing is read; a few seconds of CPU in all.
//   node bench/liveness-forwarding.mjs
import { execFileSync } from 'node:child_process';
import inspector from 'node:inspector';
import { fileURLToPath } from 'node:url';

const SHAPES = ['rest', 'rest-in-try', 'arguments-in-try', 'spread-in-try', 'node-nextTick'];
const ROUNDS = 20000;

/** The wrapper of a shape around `target` (each returns what target returns). */
function wrap(shape, target) {
  switch (shape) {
    case 'rest':
      return function forward(...args) {
        return Reflect.apply(target, this, args);
      };
    case 'rest-in-try':
      return function forward(...args) {
        try {
          return Reflect.apply(target, this, args);
        } catch (err) {
          Error.captureStackTrace(err, forward);
          throw err;
        }
      };
    case 'arguments-in-try':
      return function forward() {
        try {
          // eslint-disable-next-line prefer-rest-params
          return Reflect.apply(target, this, arguments);
        } catch (err) {
          throw err;
        }
      };
    case 'spread-in-try':
      return function forward(...args) {
        try {
          return target.call(this, ...args);
        } catch (err) {
          throw err;
        }
      };
    default:
      throw new Error(`unknown shape ${shape}`);
  }
}

/** In the child: run the shape hot, so V8 optimizes its caller (the trace goes to stdout). */
async function child(shape, debug) {
  if (debug) {
    const session = new inspector.Session();
    session.connect();
    session.post('Debugger.enable');
    session.post('Debugger.setPauseOnExceptions', { state: 'all' });
  }
  let n = 0;
  const noop = () => void n++;
  if (shape === 'node-nextTick') {
    const hot = () => {
      for (let i = 0; i < 100; i++) process.nextTick(noop);
    };
    for (let r = 0; r < ROUNDS / 10; r++) {
      hot();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return;
  }
  const check = wrap(shape, function target(value, name) {
    if (typeof value !== 'function') throw new TypeError(`${name} is not a function`);
  });
  const hot = (cb) => {
    check(cb, 'cb');
    return cb;
  };
  const outer = () => {
    for (let i = 0; i < 1000; i++) hot(noop)();
  };
  for (let r = 0; r < ROUNDS; r++) outer();
}

/** Inlinings of the forwarded-to function the trace shows (node's check: the anonymous function inlined into nextTick). */
function inlinedCount(trace, shape) {
  const lines = trace.split('\n').filter((l) => l.startsWith('Inlining ')).map((l) => l.replace(/0x[0-9a-f]+/g, ''));
  if (shape === 'node-nextTick') return lines.filter((l) => /\{ <SharedFunctionInfo>\} into +\{ <SharedFunctionInfo nextTick>\}/.test(l)).length;
  return lines.filter((l) => l.includes('<SharedFunctionInfo target>')).length;
}

if (process.argv[2] === 'child') {
  await child(process.argv[3], process.argv[4] === 'debug');
} else {
  const self = fileURLToPath(import.meta.url);
  const cases = [
    ['V8 default', [], false],
    ['default + Debugger.enable', [], true],
    ['-d flag', ['--no-analyze-environment-liveness'], false],
    ['-d flag + Debugger.enable', ['--no-analyze-environment-liveness'], true],
  ];
  console.log(`node ${process.version}: inlinings of the forwarded-to function into its hot caller (0: called through the forward)`);
  console.log(`| shape | ${cases.map((c) => c[0]).join(' | ')} |`);
  console.log(`| --- |${' ---: |'.repeat(cases.length)}`);
  for (const shape of SHAPES) {
    const cells = cases.map(([, flags, debug]) => {
      const trace = execFileSync(process.execPath, [...flags, '--trace-turbo-inlining', self, 'child', shape, debug ? 'debug' : 'plain'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      return String(inlinedCount(trace, shape));
    });
    console.log(`| ${shape} | ${cells.join(' | ')} |`);
  }
}
