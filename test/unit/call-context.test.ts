// Debug mode's call context (diagnostics/call-context.ts): which app call's work runs now, carried
// through awaits, then-callbacks and the global timers without AsyncLocalStorage.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CallContext } from '../../diagnostics/call-context.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const contexts: CallContext<{ id: string }>[] = [];
afterEach(() => {
  for (const c of contexts.splice(0)) c.disable();
});

// Each case runs with ticks followed by their async ids (where node's binding is there: this Node)
// and with the pairs of ticks of ours that replace them where it is not.
for (const pairs of [false, true]) {
/**
 * A context enabled once vitest's own process.nextTick swap is over. Its RPC (a task update, sent
 * at a test's start when the last was more than 100 ms before: more often the slower the machine)
 * sets process.nextTick to node's and puts back the one it found a tick later; the test's function
 * starts in the same microtask run, before that tick. A context enabled there had its nextTick
 * wrapper replaced under the case's ticks by the one before it: the nextTick case, which awaits an
 * immediate between enable() and its call, saw ['tick:undefined', 'data:undefined',
 * 'end:undefined'] in two full suites at load 28-34 (findings fix8.3, perf10.1). An immediate
 * later every tick queued before it has run.
 */
async function context(): Promise<CallContext<{ id: string }>> {
  await new Promise((r) => setImmediate(r));
  const c = new CallContext<{ id: string }>({ pairs });
  c.enable();
  contexts.push(c);
  return c;
}

describe(pairs ? 'CallContext (ticks followed with pairs of ticks of its own)' : 'CallContext (ticks followed by their async ids)', () => {
  it('is the call during its synchronous part only, and the one before it afterwards', async () => {
    const c = await context();
    const outer = { id: 'outer' };
    const inner = { id: 'inner' };
    const seen: (string | undefined)[] = [];
    c.run(outer, () => {
      seen.push(c.current()?.id);
      c.run(inner, () => seen.push(c.current()?.id), 0, 0);
      seen.push(c.current()?.id);
    }, 0, 0);
    seen.push(c.current()?.id);
    expect(seen).toEqual(['outer', 'inner', 'outer', undefined]);
  });

  it('hands a process.nextTick or setImmediate callback scheduled in a call the arguments it was given, as many as given (none to five), with the call current', async () => {
    const c = await context();
    const seen: { via: string; args: unknown[]; call: string | undefined }[] = [];
    const record = (via: string) =>
      function (...args: unknown[]) {
        seen.push({ via, args, call: c.current()?.id });
      };
    c.run({ id: 'x' }, () => {
      for (let n = 0; n <= 5; n++) {
        const args = Array.from({ length: n }, (_, i) => `a${i}`);
        process.nextTick(record(`nextTick ${n}`), ...args);
        setImmediate(record(`setImmediate ${n}`), ...args);
      }
    }, 0, 0);
    await new Promise<void>((r) => setImmediate(() => setImmediate(r)));
    for (let n = 0; n <= 5; n++) {
      const args = Array.from({ length: n }, (_, i) => `a${i}`);
      expect(seen.find((s) => s.via === `nextTick ${n}`)).toEqual({ via: `nextTick ${n}`, args, call: 'x' });
      expect(seen.find((s) => s.via === `setImmediate ${n}`)).toEqual({ via: `setImmediate ${n}`, args, call: 'x' });
    }
    expect(process.nextTick.length).toBe(1);
  });

  it('follows each of two interleaved calls through its own awaits and then-callbacks', async () => {
    const c = await context();
    const seen: string[] = [];
    const tick = () => new Promise<void>((r) => setImmediate(r));
    const work = async (tag: string) => {
      for (let i = 0; i < 3; i++) {
        await tick();
        seen.push(`${tag}:${c.current()?.id}`);
      }
      return Promise.resolve().then(() => seen.push(`${tag}-then:${c.current()?.id}`));
    };
    const a = c.run({ id: 'a' }, work, 'A', 0);
    const b = c.run({ id: 'b' }, work, 'B', 0);
    await Promise.all([a, b]);
    expect(seen.filter((s) => s.startsWith('A')).every((s) => s.endsWith(':a'))).toBe(true);
    expect(seen.filter((s) => s.startsWith('B')).every((s) => s.endsWith(':b'))).toBe(true);
    expect(seen).toHaveLength(8);
    expect(c.current()).toBeUndefined();
  });

  it('follows setTimeout, setInterval, setImmediate and queueMicrotask callbacks; promisified timers still work', async () => {
    const c = await context();
    const seen: Record<string, string | undefined> = {};
    await new Promise<void>((done) => {
      let left = 4;
      const mark = (name: string) => {
        seen[name] = c.current()?.id;
        if (--left === 0) done();
      };
      c.run({ id: 'call' }, () => {
        setTimeout(() => mark('setTimeout'), 1);
        const t = setInterval(() => {
          clearInterval(t);
          mark('setInterval');
        }, 1);
        setImmediate(() => mark('setImmediate'));
        queueMicrotask(() => mark('queueMicrotask'));
      }, 0, 0);
    });
    expect(seen).toEqual({ setTimeout: 'call', setInterval: 'call', setImmediate: 'call', queueMicrotask: 'call' });
    expect(await promisify(setTimeout)(1, 'value')).toBe('value');
  });

  it("follows process.nextTick, and so a stream's 'data' and 'end' for a body already buffered when the call began", async () => {
    const { Readable } = await import('node:stream');
    const c = await context();
    const body = new Readable({ read() {} });
    body.push('{"amount":900}');
    body.push(null);
    await new Promise((r) => setImmediate(r)); // what pushing scheduled has run: the body just waits
    const seen: (string | undefined)[] = [];
    await new Promise<void>((done) => {
      c.run({ id: 'post' }, () => {
        process.nextTick(() => seen.push(`tick:${c.current()?.id}`));
        body.on('data', () => seen.push(`data:${c.current()?.id}`));
        body.on('end', () => {
          seen.push(`end:${c.current()?.id}`);
          done();
        });
      }, 0, 0);
    });
    expect(seen).toEqual(['tick:post', 'data:post', 'end:post']);
  });

  it('attributes nothing to work started outside any call', async () => {
    const c = await context();
    let inTimer: unknown = 'unset';
    let afterAwait: unknown = 'unset';
    await new Promise<void>((r) => setTimeout(() => {
      inTimer = c.current();
      r();
    }, 1));
    await Promise.resolve();
    afterAwait = c.current();
    expect(inTimer).toBeUndefined();
    expect(afterAwait).toBeUndefined();
  });

  it("makes the call current only while the callback runs: work queued after it, outside any call, runs with none (timers, immediates, ticks, microtasks)", async () => {
    const c = await context();
    const seen: Record<string, string | undefined> = {};
    await new Promise<void>((done) => {
      let left = 10;
      const mark = (name: string) => () => {
        seen[name] = c.current()?.id ?? 'none';
        if (--left === 0) done();
      };
      const before = c.enter({ id: 'call' });
      try {
        setTimeout(mark('timeout in call'), 1);
        setImmediate(mark('immediate in call'));
        process.nextTick(mark('tick in call'));
        queueMicrotask(mark('microtask in call'));
        let runs = 0;
        const t = setInterval(() => {
          seen[`interval run ${++runs}`] = c.current()?.id ?? 'none';
          if (runs === 2) {
            clearInterval(t);
            mark('interval')();
          }
        }, 1);
      } finally {
        c.leave(before);
      }
      setTimeout(mark('timeout after'), 1);
      setImmediate(mark('immediate after'));
      process.nextTick(mark('tick after'));
      queueMicrotask(mark('microtask after'));
      setTimeout(mark('timeout later'), 30);
    });
    expect(seen).toEqual({
      'timeout in call': 'call',
      'immediate in call': 'call',
      'tick in call': 'call',
      'microtask in call': 'call',
      'interval run 1': 'call',
      'interval run 2': 'call',
      interval: 'call',
      'timeout after': 'none',
      'immediate after': 'none',
      'tick after': 'none',
      'microtask after': 'none',
      'timeout later': 'none',
    });
    expect(c.current()).toBeUndefined();
  });

  it("runs no function of its own around the app's callbacks: their stacks keep node's frames and names, with no frame of call-context (T6)", async () => {
    const c = await context();
    const stacks: Record<string, string> = {};
    await new Promise<void>((done) => {
      let left = 4;
      const keep = (name: string) => {
        stacks[name] = new Error(name).stack!;
        if (--left === 0) done();
      };
      const before = c.enter({ id: 'call' });
      try {
        setTimeout(() => keep('timeout'), 1);
        setImmediate(() => keep('immediate'));
        process.nextTick(() => keep('tick'));
        queueMicrotask(() => keep('microtask'));
      } finally {
        c.leave(before);
      }
    });
    for (const stack of Object.values(stacks)) expect(stack).not.toMatch(/diagnostics\/call-context/);
    expect(stacks.timeout).toMatch(/\n {4}at Timeout\._onTimeout \(/);
    expect(stacks.immediate).toMatch(/\n {4}at Immediate\._onImmediate \(/);
    expect(stacks.tick).toMatch(/call-context\.test\.ts:\d+:\d+\n {4}at (process\.)?processTicksAndRejections \(node:internal/);
    expect(stacks.microtask).toMatch(/call-context\.test\.ts:\d+:\d+\n {4}at node:internal\/process\/task_queues/);
  });

  it("follows a call's tick into the ticks it queues, while ticks queued by other work in between run with none", async () => {
    const c = await context();
    const seen: Record<string, string> = {};
    const mark = (name: string) => (seen[name] = c.current()?.id ?? 'none');
    await new Promise<void>((done) => {
      const before = c.enter({ id: 'call' });
      try {
        process.nextTick(() => {
          mark('A: queued in the call');
          process.nextTick(() => {
            mark('B: queued by A');
            process.nextTick(() => {
              mark('C: queued by B');
              done();
            });
          });
        });
      } finally {
        c.leave(before);
      }
      process.nextTick(() => {
        mark('U: queued after the call');
        process.nextTick(() => mark('V: queued by U'));
      });
    });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual({ 'A: queued in the call': 'call', 'U: queued after the call': 'none', 'B: queued by A': 'call', 'V: queued by U': 'none', 'C: queued by B': 'call' });
  });

  // A tick queued under a default trigger (node's defaultTriggerAsyncIdScope: net queues
  // 'listening' so, with the server's id as its trigger, not the running tick's) and a tick queued
  // after another call was entered and left: session 21's stretches, found by trigger, had to look
  // these up again; ticks noted by their own ids (session 22) must still name the call.
  it("keeps the call current in a tick node queues under a default trigger (net's 'listening') from a tick of the call that queued one before", async () => {
    const { createServer } = await import('node:net');
    const { rmSync } = await import('node:fs');
    const c = await context();
    const seen: Record<string, string> = {};
    const server = createServer();
    // A socket file: listen() queues 'listening' synchronously (a host would be looked up first, in a tick of its own).
    const dir = tempDir('call-context');
    try {
      await new Promise<void>((done) => {
        const before = c.enter({ id: 'call' });
        try {
          process.nextTick(() => {
            process.nextTick(() => (seen['tick before'] = c.current()?.id ?? 'none'));
            server.listen(join(dir, 'listening.sock'), () => {
              seen.listening = c.current()?.id ?? 'none';
              done();
            });
          });
        } finally {
          c.leave(before);
        }
      });
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
    expect(seen).toEqual({ 'tick before': 'call', listening: 'call' });
  });

  it("follows each of two calls into the ticks queued in one tick of the first's, the second entered and left between them", async () => {
    const c = await context();
    const seen: Record<string, string> = {};
    const mark = (name: string) => () => (seen[name] = c.current()?.id ?? 'none');
    await new Promise<void>((done) => {
      const before = c.enter({ id: 'first' });
      try {
        process.nextTick(() => {
          process.nextTick(mark('A1: the first, queued by its tick'));
          const inner = c.enter({ id: 'second' });
          try {
            process.nextTick(mark('B: the second, queued in it'));
          } finally {
            c.leave(inner);
          }
          process.nextTick(mark('A2: the first, queued by its tick after the second left'));
          process.nextTick(done);
        });
      } finally {
        c.leave(before);
      }
    });
    expect(seen).toEqual({ 'A1: the first, queued by its tick': 'first', 'B: the second, queued in it': 'second', 'A2: the first, queued by its tick after the second left': 'first' });
  });

  it('keeps the call current inside an AsyncResource scope run in its tick (on-finished runs its listeners so), and in the ticks queued there', async () => {
    const { AsyncResource } = await import('node:async_hooks');
    const c = await context();
    const seen: Record<string, string> = {};
    await new Promise<void>((done) => {
      const before = c.enter({ id: 'call' });
      try {
        process.nextTick(() => {
          new AsyncResource('TEST_SCOPE').runInAsyncScope(() => {
            seen.scope = c.current()?.id ?? 'none';
            process.nextTick(() => {
              seen['tick from the scope'] = c.current()?.id ?? 'none';
              done();
            });
          });
        });
      } finally {
        c.leave(before);
      }
    });
    expect(seen).toEqual({ scope: 'call', 'tick from the scope': 'call' });
  });

  it('follows each of many calls, entered one after another in one turn, into its own ticks', async () => {
    const c = await context();
    const seen: string[] = [];
    await new Promise<void>((done) => {
      for (let i = 0; i < 50; i++) {
        const before = c.enter({ id: `c${i}` });
        try {
          process.nextTick(() => {
            seen.push(`${i}:${c.current()?.id}`);
            process.nextTick(() => {
              seen.push(`${i}+:${c.current()?.id}`);
              if (seen.length === 100) done();
            });
          });
        } finally {
          c.leave(before);
        }
      }
    });
    expect(seen.filter((s) => s.split(':')[1] !== `c${s.split(/[+:]/)[0]}`)).toEqual([]);
    expect(c.current()).toBeUndefined();
  });

  it("notes the ticks of at most 1024 calls queued in one turn: past that, the oldest calls' ticks run with none, never with another call's (review9.11)", async () => {
    const c = await context();
    const calls = 1100; // more than the MAX_CALLS (1024) calls ticks are noted for
    const seen: { i: number; id: string | undefined }[] = [];
    await new Promise<void>((done) => {
      for (let i = 0; i < calls; i++) {
        const before = c.enter({ id: `c${i}` });
        try {
          process.nextTick(() => {
            seen.push({ i, id: c.current()?.id });
            if (seen.length === calls) done();
          });
        } finally {
          c.leave(before);
        }
      }
    });
    expect(seen.filter(({ i, id }) => id !== undefined && id !== `c${i}`)).toEqual([]);
    // The newest 1024 calls' ticks each ran with their own call.
    expect(seen.slice(calls - 1024).filter(({ i, id }) => id !== `c${i}`)).toEqual([]);
  });

  it('keeps a chain of ticks with its call while more than 1024 other calls, entered between its links, queue ticks of their own', async () => {
    const c = await context();
    const links = 60;
    const others = 30; // 1,800 other calls in all, more than the 1024 the ticks can be noted for
    const chain: (string | undefined)[] = [];
    const wrong: string[] = [];
    await new Promise<void>((done) => {
      const link = (n: number): void => {
        chain.push(c.current()?.id);
        for (let i = 0; i < others; i++) {
          const id = `o${n}.${i}`;
          const before = c.enter({ id });
          try {
            process.nextTick(() => {
              if (c.current()?.id !== id) wrong.push(`${id}:${c.current()?.id}`);
            });
          } finally {
            c.leave(before);
          }
        }
        if (n < links) process.nextTick(link, n + 1);
        else process.nextTick(done);
      };
      const before = c.enter({ id: 'chain' });
      try {
        process.nextTick(link, 1);
      } finally {
        c.leave(before);
      }
    });
    expect(chain).toEqual(Array.from({ length: links }, () => 'chain'));
    expect(wrong).toEqual([]);
  });

  it('gives the global timer functions and process.nextTick back when disabled', () => {
    const before = { setTimeout, setInterval, setImmediate, queueMicrotask, nextTick: process.nextTick };
    const c = new CallContext<{ id: string }>();
    c.enable();
    expect(globalThis.setTimeout).not.toBe(before.setTimeout);
    expect(process.nextTick).not.toBe(before.nextTick);
    c.disable();
    expect({ setTimeout, setInterval, setImmediate, queueMicrotask, nextTick: process.nextTick }).toEqual(before);
  });
});
}

/**
 * The bytecode length V8 gives `fn` of the built call-context.js, in a node that follows a call
 * into ticks queued from ticks (so that the wrapper and the lookup are compiled), and V8's limit.
 */
function bytecodeLength(fn: string): number {
  const url = JSON.stringify(pathToFileURL(join(ROOT, 'dist/diagnostics/call-context.js')).href);
  const script = `const { CallContext } = await import(${url}); const c = new CallContext(); c.enable(); const before = c.enter({}); process.nextTick(() => process.nextTick(() => {})); c.leave(before);`;
  const out = execFileSync(process.execPath, ['--print-bytecode', `--print-bytecode-filter=${fn}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
  const lengths = [...out.matchAll(/^Bytecode length: (\d+)$/gm)].map((m) => Number(m[1]));
  expect(lengths, `one bytecode listing of ${fn}`).toHaveLength(1);
  return lengths[0]!;
}

describe("the nextTick wrapper and V8's inlining (bench/README.md, session 19)", () => {
  it("keeps the tick lookup over V8's bytecode limit for inlining a function, and the wrapper under 100 bytes: node's callers inline the wrapper", () => {
    const flags = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    const limit = Number(/--max-inlined-bytecode-size=(\d+)/.exec(flags)?.[1]);
    expect(limit).toBeGreaterThan(0);
    expect(bytecodeLength('lookup')).toBeGreaterThan(limit);
    // 43 (session 22: every tick queued is looked up; the lookup notes it by its id).
    expect(bytecodeLength('lean')).toBeLessThanOrEqual(100);
  });
});
