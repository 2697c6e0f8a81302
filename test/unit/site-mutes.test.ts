// A throw site captured and repeated within its window stops pausing (diagnostics/site-mutes.ts):
// its function is blackboxed in capture's session, so V8 does not pause there; other functions
// still pause, and the mute ends with unmuteAll() or the window. In a file of its own: no other
// inspector session in this process, so pause counts are exact.
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { Redactor } from '../../diagnostics/redact.js';
import { enableDiagnostics } from '../../diagnostics/index.js';
import type { Reported } from '../../server/debug-hook.js';
import { bracesAfter, oneThrowNew, shapeOf } from '../../diagnostics/site-mutes.js';

function lookup(n: number): number {
  if (n >= 0) throw new Error(`user ${n} not found`);
  return n;
}

function total(n: number): number {
  const cents = n * 100;
  if (n > 1000) throw new RangeError(`total ${cents} over the limit`);
  if (n >= 0) throw new Error(`no price for ${n}`);
  return cents;
}

function find(n: number): number {
  const id = n * 2;
  if (n >= 0) throw new Error(`account ${id} not found`);
  return id;
}

function other(n: number): number {
  throw new Error(`order ${n} missing`);
}

// Muted below; the function after it is then optimized on purpose: a mute leaves the rest of the app's code as optimizable as it was.
function quote(n: number): number {
  if (n >= 0) throw new Error(`no quote for ${n}`);
  return -n;
}

function shipping(n: number): number {
  return n * 3 + 1;
}

// A dumped failure's site, and another function failing with its class and message (review10.6:
// a generic message is shared by unrelated sites).
function charge(n: number): number {
  const fee = n * 2;
  if (n >= 0) throw new Error('card declined');
  return fee;
}

function authorize(n: number): number {
  const limit = n * 7;
  if (n >= 0) throw new Error('card declined');
  return limit;
}

/**
 * Runs `body` with -d on and a stack formatter of the app's that counts the stack texts it makes
 * (`formatted()`); -d and the formatter are put back after.
 */
function withCountedStacks(body: (diag: ReturnType<typeof enableDiagnostics>, formatted: () => number, written: string[]) => void): void {
  const written: string[] = [];
  const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
  let count = 0;
  const saved = Error.prepareStackTrace;
  Error.prepareStackTrace = (err, sites) => {
    count++;
    return `${String(err)}\n${sites.map((c) => `    at ${String(c)}`).join('\n')}`;
  };
  try {
    body(diag, () => count, written);
  } finally {
    Error.prepareStackTrace = saved;
    diag.close();
  }
}

const attempt = (f: (n: number) => number, n: number): unknown => {
  try {
    return f(n);
  } catch (err) {
    return err;
  }
};

describe('site mutes', () => {
  it("stops pausing in a function once its throw site repeats; another function still pauses; unmuteAll brings the pauses back", async () => {
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 1000 }, new Redactor(), () => undefined);
    c.start();
    try {
      c.scope('app', () => {
        for (let i = 0; i < 50; i++) attempt(lookup, i);
      });
      expect(c.stats).toMatchObject({ pauses: 2, captures: 1, repeats: 1, muted: 1 });
      c.scope('app', () => attempt(other, 1));
      expect(c.stats).toMatchObject({ pauses: 3, captures: 2 });
      c.mutes.unmuteAll();
      expect(c.mutes.size).toBe(0);
      c.scope('app', () => attempt(lookup, 99));
      expect(c.stats.pauses).toBe(4); // a repeat again, so muted again
      expect(c.mutes.size).toBe(1);
      expect(c.costLine()).toContain('; 2 function(s) muted after a repeat');
    } finally {
      c.stop();
    }
  });

  it('counts unpaused repeats against the first dump, by their message or the line their stack starts at; a new failure in a muted function unmutes and says why it has no values', () => {
    const written: string[] = [];
    const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
    try {
      const reports: Reported[] = [];
      for (let i = 0; i < 30; i++) reports.push(diag.report(attempt(total, i), { phase: 'app' }));
      expect(diag.capturer.stats.pauses).toBe(2);
      expect(reports[0]!.repeat).toBe(false);
      expect(reports[0]!.dump.frames[0]!.locals).toMatchObject({ n: 0, cents: 0 });
      expect(reports.slice(1).every((r) => r.repeat && r.dump === reports[0]!.dump)).toBe(true);
      expect(written.filter((t) => t.includes('no price for'))).toHaveLength(2); // the dump; "has happened 10 times"
      // The other throw site of the muted function: not paused, so not captured; everything unmutes.
      const other = diag.report(attempt(total, 5000), { phase: 'app' });
      expect(other.repeat).toBe(false);
      expect(other.dump.captured).toBe(false);
      expect(other.dump.note).toMatch(/pausing was muted/);
      expect(diag.capturer.mutes.size).toBe(0);
      // Its next throw pauses and is captured, with its values, and dumped again (not counted as
      // a repeat of its valueless dump: stormrev.3), its note naming the first.
      const again = diag.report(attempt(total, 5001), { phase: 'app' });
      expect([again.repeat, again.dump.captured]).toEqual([false, true]);
      expect(again.dump.frames[0]!.locals).toMatchObject({ n: 5001, cents: 500100 });
      expect(again.dump.note).toContain(`is dump #${other.dump.id}, without values`);
      expect(written.filter((t) => t.includes(`dump #${again.dump.id} [app] RangeError`))).toHaveLength(1);
    } finally {
      diag.close();
    }
  });

  it("reads where a muted function's repeats with messages of their own start from where V8 made them: one stack formatted for the position, none for the repeats after; the app's stack text unchanged", () => {
    withCountedStacks((diag, formatted) => {
      // total has two throws: its repeats are matched neither by their shape nor by their message
      // ("no price for 7" after "no price for 6"), but by the line their stack starts at.
      const first = diag.report(attempt(total, 0), { phase: 'app' });
      diag.report(attempt(total, 1), { phase: 'app' });
      expect(diag.capturer.stats).toMatchObject({ pauses: 2, captures: 1, muted: 1 });
      const before = formatted();
      const errors = Array.from({ length: 20 }, (_, i) => attempt(total, i + 2) as Error);
      const reports = errors.map((err) => diag.report(err, { phase: 'app' }));
      expect(reports.every((r) => r.repeat && r.dump === first.dump)).toBe(true);
      expect(formatted() - before).toBe(1);
      expect(diag.capturer.stats.pauses).toBe(2);
      // What the app reads is its formatter's text, made when it reads it.
      const text = errors[7]!.stack!;
      expect(formatted() - before).toBe(2);
      expect(text).toMatch(/^Error: no price for 9\n {4}at total \(.*site-mutes\.test\.ts:\d+:\d+\)/);
    });
  });

  it('mutes a function without keeping the functions after it in its file from being optimized', async () => {
    // V8 never optimizes a function that holds break information again, and
    // Debugger.getPossibleBreakpoints gives it to every function it looks through: the muted one
    // has it (so it is never inlined, and V8 sees it as the throwing frame's only function).
    setFlagsFromString('--allow-natives-syntax');
    const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
    const optimize = new Function('f', 'a', '%PrepareFunctionForOptimization(f); f(a); f(a); %OptimizeFunctionOnNextCall(f); f(a);') as (f: unknown, a: number) => void;
    const OPTIMIZED = 1 << 4;
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 1000 }, new Redactor(), () => undefined);
    c.start();
    try {
      c.scope('app', () => {
        for (let i = 0; i < 5; i++) attempt(quote, i);
      });
      expect(c.stats).toMatchObject({ captures: 1, muted: 1 });
      expect(c.mutes.size).toBe(1);
      c.scope('app', () => attempt(quote, 9));
      expect(c.stats.pauses).toBe(2); // still muted
      optimize(shipping, 2);
      expect(status(shipping) & OPTIMIZED).toBe(OPTIMIZED);
    } finally {
      c.stop();
    }
  });

  it("matches a one-throw function's unpaused repeats by their shape, without formatting their stacks; the same shape from another function is still captured", () => {
    withCountedStacks((diag, formatted, written) => {
      const reports: Reported[] = [];
      for (let i = 0; i < 3; i++) reports.push(diag.report(attempt(find, i), { phase: 'app' }));
      expect(diag.capturer.stats).toMatchObject({ pauses: 2, muted: 1 });
      const before = formatted();
      for (let i = 3; i < 40; i++) reports.push(diag.report(attempt(find, i), { phase: 'app' }));
      expect(formatted() - before).toBe(0);
      expect(diag.capturer.stats.pauses).toBe(2);
      expect(reports.slice(1).every((r) => r.repeat && r.dump === reports[0]!.dump)).toBe(true);
      expect(written.filter((t) => /account \d+ not found/.test(t))).toHaveLength(2); // the dump; "has happened 10 times"
      // Another function throwing an error of that shape pauses and gets a dump of its own.
      const elsewhere = diag.report(attempt(() => { throw new Error('account 7 not found'); }, 0), { phase: 'app' });
      expect(elsewhere.repeat).toBe(false);
      expect(elsewhere.dump.captured).toBe(true);
    });
  });

  it('pays no pausing check (a deliberate throw and pause) for a repeat matched to its dump, however much time passes between repeats', () => {
    const written: string[] = [];
    const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
    // Each report comes a second after the one before: past the check's once-per-250-ms gate, so
    // every report that asks whether pausing was taken makes the check throw (and V8 pause).
    let clock = performance.now();
    const now = vi.spyOn(performance, 'now').mockImplementation(() => (clock += 1000));
    try {
      const reports: Reported[] = [];
      for (let i = 0; i < 30; i++) reports.push(diag.report(attempt(lookup, i), { phase: 'app' }));
      expect(diag.capturer.stats).toMatchObject({ captures: 1, muted: 1 });
      expect(reports.slice(1).every((r) => r.repeat && r.dump === reports[0]!.dump)).toBe(true);
      expect(diag.capturer.stats.checks).toBe(0);
      // A failure nothing explains still asks (and is told pausing works: no note).
      const handed = diag.report(new Error('made and handed on'), { phase: 'app' });
      expect(diag.capturer.stats.checks).toBe(1);
      expect(handed.dump.note ?? '').not.toMatch(/another debugger session/);
    } finally {
      now.mockRestore();
      diag.close();
    }
  });

  it('calls a function one-throw only when its text has one `throw`, a `throw new` (comments, strings, re-throws and closures count)', () => {
    const at = (src: string) => oneThrowNew(src, { scriptId: '1', lineNumber: 0, columnNumber: 0 }, { scriptId: '1', lineNumber: 0, columnNumber: src.length - 1 });
    expect(at('function f(n) { if (n) throw new Error(`user ${n}`); return n; }')).toBe(true);
    expect(at('function f(n) { if (n) throw new Error("a"); if (n > 2) throw new Error("b"); }')).toBe(false);
    expect(at('function f(n) { try { g(); } catch (e) { throw e; } }')).toBe(false);
    expect(at('function f(n) { throw new Error("a"); /* then throw */ }')).toBe(false);
    expect(at('function f(n) { const g = () => { throw err; }; throw new Error("a"); }')).toBe(false);
    expect(at('function f(n) { return n.throwIt(); }')).toBe(false);
    expect(at('function f(n) { throw new Error("a"); }', )).toBe(true);
    expect(oneThrowNew(null, { scriptId: '1', lineNumber: 0, columnNumber: 0 }, { scriptId: '1', lineNumber: 0, columnNumber: 5 })).toBe(false);
    expect(shapeOf(new RangeError('total 1200 over 1000'))).toBe('RangeError: total # over #');
    expect(shapeOf('a string')).toBeNull();
  });

  it("takes a throw at a dumped site, once its window is over, as a repeat: no second capture, no dump built, muted again", () => {
    const written: string[] = [];
    const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
    let clock = performance.now();
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      const first = diag.report(attempt(lookup, 1), { phase: 'app' });
      for (let i = 2; i < 5; i++) diag.report(attempt(lookup, i), { phase: 'app' });
      expect(diag.capturer.stats).toMatchObject({ pauses: 2, captures: 1, muted: 1 });
      // The site's window (60 s) ends: its mute is lifted (as its timer does) and the next throw pauses.
      clock += 61_000;
      diag.capturer.mutes.unmuteAll();
      const later = diag.report(attempt(lookup, 5), { phase: 'app' });
      expect(diag.capturer.stats).toMatchObject({ pauses: 3, captures: 1, muted: 2 });
      expect(later.repeat).toBe(true);
      expect(later.dump).toBe(first.dump);
      diag.report(attempt(lookup, 6), { phase: 'app' });
      expect(diag.capturer.stats.pauses).toBe(3);
    } finally {
      now.mockRestore();
      diag.close();
    }
  });

  it("keeps a function muted past its window while its site keeps repeating (no pause at the window's end), and lifts the mute once a window passes without a repeat", () => {
    const written: string[] = [];
    // Only the mutes' window timers are faked: the inspector's session and the clock stay real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const diag = enableDiagnostics({ write: (t) => written.push(t), colour: false, dir: null, env: {} });
    try {
      const first = diag.report(attempt(find, 1), { phase: 'app' });
      for (let i = 2; i < 5; i++) diag.report(attempt(find, i), { phase: 'app' });
      expect(diag.capturer.stats).toMatchObject({ pauses: 2, captures: 1, muted: 1 });
      // The site repeats through its window (60 s), then the window ends.
      for (let i = 5; i < 9; i++) expect(diag.report(attempt(find, i), { phase: 'app' }).dump).toBe(first.dump);
      vi.advanceTimersByTime(60_000);
      expect(diag.capturer.mutes.size).toBe(1);
      const later = diag.report(attempt(find, 9), { phase: 'app' });
      expect(later.repeat).toBe(true);
      expect(later.dump).toBe(first.dump);
      expect(diag.capturer.stats).toMatchObject({ pauses: 2, captures: 1, muted: 1 });
      // That repeat renews the window once more; a window with none lifts the mute, and the next throw pauses.
      vi.advanceTimersByTime(60_000);
      expect(diag.capturer.mutes.size).toBe(1);
      vi.advanceTimersByTime(60_000);
      expect(diag.capturer.mutes.size).toBe(0);
      expect(diag.report(attempt(find, 10), { phase: 'app' }).dump).toBe(first.dump);
      expect(diag.capturer.stats.pauses).toBe(3);
    } finally {
      diag.close();
      vi.useRealTimers();
    }
  });

  // tsx drops a file's leading comments: an app's first function can start at offset 0 of its
  // compiled script, where only the script's own range (the whole source) used to start (tests15.1:
  // debug-app.ts's loadUser was never muted, and each repeat read the coverage of every script again).
  it('mutes a function that starts at offset 0 of its script, whose end only the coverage tells', async () => {
    const { runInThisContext } = await import('node:vm');
    // A template literal with a ${} after the last break location: the braces there do not tell.
    const first = runInThisContext('function first(n) {\n  throw new Error(`first ${n} failed`);\n}\nfirst;\n', { filename: '/tmp/tspuma-site-mutes-first.js' }) as (n: number) => number;
    const { Capturer } = await import('../../diagnostics/capture.js');
    const c = new Capturer({ frames: 4, perSiteMs: 60_000, globalPerSecond: 1000 }, new Redactor(), () => undefined);
    c.start();
    try {
      c.scope('app', () => {
        for (let i = 0; i < 20; i++) attempt(first, i);
      });
      expect(c.stats).toMatchObject({ captures: 1, repeats: 1, muted: 1, pauses: 2 });
      expect(c.mutes.size).toBe(1);
    } finally {
      c.stop();
    }
  });

  it("reads a function's end past the closing braces after its last break location, and gives up where code follows", () => {
    const end = (src: string, from: string) => bracesAfter(src, src.indexOf(from));
    const two = 'function f(o) { return o.a; }\nfunction g() {}';
    expect(end(two, '; }')).toBe(two.indexOf('}') + 1);
    // The last return in an else: past the else's brace and the function's, not into the next line.
    const branches = 'function f(o) {\n  if (o) { return 1; } else { return 2; } // two }\n}\nconst x = 1;';
    expect(end(branches, '; } // two')).toBe(branches.lastIndexOf('}') + 1);
    const block = 'function f(o) { return 2; /* } */\n}\nconst x = 1;';
    expect(end(block, '; /*')).toBe(block.lastIndexOf('}') + 1);
    expect(end('const d = (o) => o.a.b;\nconst e = 1;', ';')).toBeNull();
    expect(end('list.map((o) => o.a)', ')')).toBeNull();
    expect(end('x', 'y')).toBeNull();
  });

  it('while pausing is off for a backoff, another function failing with a dumped failure\'s class and message is not counted as its repeat (review10.6)', () => {
    const diag = enableDiagnostics({ write: () => {}, colour: false, dir: null, env: {} });
    try {
      const first = diag.report(attempt(charge, 1), { phase: 'app' });
      expect(first.dump.captured).toBe(true);
      // Throws over the global rate: pausing off for the backoff (as the budget decides it).
      const capturer = diag.capturer as unknown as { trip(): void; budget: { backoffUntil: number } };
      capturer.budget.backoffUntil = performance.now() + 60_000;
      capturer.trip();
      expect(diag.capturer.pausingNow).toBe(false);
      const other = diag.report(attempt(authorize, 1), { phase: 'app' });
      expect(other.repeat).toBe(false);
      expect(other.dump.frames[0]!.function).toBe('authorize');
      // charge's own failure is still its dump's repeat.
      expect(diag.report(attempt(charge, 2), { phase: 'app' }).dump).toBe(first.dump);
    } finally {
      diag.close();
    }
  });

  it("counts a muted repeat against its own dump when another function's dump has its class and message (debug22.4)", () => {
    const diag = enableDiagnostics({ write: () => {}, colour: false, dir: null, env: {} });
    try {
      const first = diag.report(attempt(charge, 1), { phase: 'app' });
      diag.report(attempt(charge, 2), { phase: 'app' }); // a paused repeat: charge is muted
      const other = diag.report(attempt(authorize, 1), { phase: 'app' });
      expect(other.dump).not.toBe(first.dump);
      // Before: counted by its kind against the latest dump of that kind, authorize's.
      expect(diag.report(attempt(charge, 3), { phase: 'app' }).dump).toBe(first.dump);
      diag.report(attempt(authorize, 2), { phase: 'app' }); // authorize muted too
      expect(diag.report(attempt(authorize, 3), { phase: 'app' }).dump).toBe(other.dump);
      expect(diag.report(attempt(charge, 4), { phase: 'app' }).dump).toBe(first.dump);
    } finally {
      diag.close();
    }
  });
});
