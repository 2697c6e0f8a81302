// Unit: the filter the primary passes a worker's stderr through (server/cluster/worker-stderr.ts):
// Node's inspector lines are dropped wherever the pipe splits them; every other byte goes on
// unchanged, at once, or after at most the hold when it could still have been one of Node's.
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NodeLineFilter, passWorkerStderr } from '../../server/cluster/worker-stderr.js';

afterEach(() => vi.useRealTimers());

/** Feeds the chunks and returns what came out, and what came out right after each chunk. */
async function through(chunks: string[]): Promise<{ all: string; after: string[] }> {
  const f = new NodeLineFilter(1000);
  let out = '';
  const after: string[] = [];
  f.on('data', (d: Buffer) => (out += d.toString()));
  for (const c of chunks) {
    f.write(Buffer.from(c));
    await new Promise((r) => setImmediate(r));
    after.push(out);
  }
  f.end();
  await new Promise((r) => f.once('end', r));
  return { all: out, after };
}

describe('NodeLineFilter', () => {
  it("drops Node's two lines, whole or split across chunks, and keeps every other line unchanged", async () => {
    const { all } = await through(['a\nDebugger attached.\nb\n', 'Debug', 'ger attached.\n', 'Waiting for the debugger to disconnect...\n', 'c\n']);
    expect(all).toBe('a\nb\nc\n');
  });

  it("keeps an app line that only starts like Node's, a line with Node's words in the middle, and empty lines", async () => {
    const text = "Debugger attached. (not node)\nsay Debugger attached.\n\nDebugger attached.x\nWaiting for the debugger\n";
    expect((await through([text])).all).toBe(text);
    expect((await through(text.split(''))).all).toBe(text);
  });

  it("passes a partial line on at once when it cannot be one of Node's, and holds a possible start only until it is decided", async () => {
    const { after } = await through(['progress 1', '0%', '\nDebu', 'g!\n']);
    expect(after).toEqual(['progress 1', 'progress 10%', 'progress 10%\n', 'progress 10%\nDebug!\n']);
  });

  it('releases a held possible start after the hold when nothing completes it, and keeps the rest of that line', async () => {
    vi.useFakeTimers();
    const f = new NodeLineFilter(20);
    let out = '';
    f.on('data', (d: Buffer) => (out += d.toString()));
    f.write(Buffer.from('Waiting for'));
    await vi.advanceTimersByTimeAsync(5);
    expect(out).toBe('');
    await vi.advanceTimersByTimeAsync(20);
    expect(out).toBe('Waiting for');
    f.write(Buffer.from(' the debugger to disconnect...\nDebugger attached.\n'));
    await vi.advanceTimersByTimeAsync(1);
    expect(out).toBe('Waiting for the debugger to disconnect...\n');
  });

  it('flushes a held possible start when the worker exits', async () => {
    expect((await through(['x\nDebugger att'])).all).toBe('x\nDebugger att');
  });
});

describe('passWorkerStderr', () => {
  it('waits for a slow destination (no byte lost, none reordered) and settles once the source ended', async () => {
    const source = new PassThrough();
    const got: Buffer[] = [];
    let pending = 0;
    const dest = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _e, cb) {
        pending++;
        got.push(chunk);
        setTimeout(() => {
          pending--;
          cb();
        }, 1);
      },
    });
    const done = passWorkerStderr(source, dest);
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i}\n${i % 50 === 0 ? 'Debugger attached.\n' : ''}`);
    for (const l of lines) source.write(l);
    source.end();
    await done;
    await new Promise<void>((r) => (pending === 0 ? r() : dest.once('drain', r)));
    expect(Buffer.concat(got).toString()).toBe(lines.map((l) => l.replace('Debugger attached.\n', '')).join(''));
    expect(dest.writableEnded).toBe(false);
  });
});
