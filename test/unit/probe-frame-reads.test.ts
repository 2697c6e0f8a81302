// FrameReads.bounded: how an evaluation V8 ended at its timeout is tried again. A first read of a
// template expression compiles what it calls (Express's req.get under the side-effect check), which
// on a loaded machine can use its whole time once: a clean-clone CI run lost a hit of
// `_req.get("x-probe-ua")` so ('Probe hit could not be handled: … Execution was terminated').
import { describe, expect, it } from 'vitest';
import { FrameReads } from '../../inspector/probe-frame-reads.js';

/** Burns `ms` of this thread's CPU, as an evaluation that ran its time does. */
function burn(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}
const terminated = () => Object.assign(new Error('Inspector error -32000: Execution was terminated'), { code: 'ERR_INSPECTOR_COMMAND' });

describe('FrameReads.bounded', () => {
  it('tries an evaluation that used its whole time once more (the first read compiles), and returns what the second gives', () => {
    let calls = 0;
    const reads = new FrameReads({
      post: <T>() => {
        calls++;
        if (calls === 1) {
          burn(60);
          throw terminated();
        }
        return { result: { type: 'string', value: 'probe-agent' } } as T;
      },
    });
    expect(reads.evaluate('frame-1', '_req.get("x-probe-ua")')).toEqual({ result: { type: 'string', value: 'probe-agent' } });
    expect(calls).toBe(2);
  });

  it('ends an expression that uses its whole time twice (a slow expression): no third try', () => {
    let calls = 0;
    const reads = new FrameReads({
      post: () => {
        calls++;
        burn(60);
        throw terminated();
      },
    });
    expect(() => reads.evaluate('frame-1', 'slow()')).toThrow(/Execution was terminated/);
    expect(calls).toBe(2);
  });
});
