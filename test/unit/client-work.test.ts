// Unit: inspector/client-work.ts, what discovery's proxy and bridge tell a process of a DevTools
// client's work there (review7.5, fix8.1): a heap snapshot at its command, an evaluation only once
// it has run LONG_EVALUATION_MS (the console's quick ones, previews and completions are not told),
// each ended at its answer or when the client leaves. Timers are vitest's fake ones.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientWorkWatch, answerId, workCommand } from '../../inspector/client-work.js';
import { LONG_EVALUATION_MS, type ClientWorkReport } from '../../server/own-work.js';

afterEach(() => {
  vi.useRealTimers();
});

function watched() {
  vi.useFakeTimers();
  let now = 1_000;
  const told: ClientWorkReport[] = [];
  const w = new ClientWorkWatch((r) => void told.push(r), () => now);
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };
  return { w, told, advance };
}

describe('ClientWorkWatch', () => {
  it('tells a heap snapshot at its command and again at its answer, under one id', () => {
    const { w, told, advance } = watched();
    w.command(4, 'HeapProfiler.takeHeapSnapshot');
    expect(told).toEqual([{ id: expect.stringMatching(/^\d+\.4$/), what: 'heap snapshot', since: 1_000, until: null }]);
    advance(2_000);
    w.answered(4);
    expect(told[1]).toEqual({ ...told[0], until: 3_000 });
    expect(w.waiting).toBe(false);
  });

  it(`tells an evaluation only once it has run ${LONG_EVALUATION_MS} ms, and nothing of a quick one or of other commands`, () => {
    const { w, told, advance } = watched();
    w.command(1, 'Runtime.evaluate');
    w.command(2, 'Debugger.enable');
    advance(LONG_EVALUATION_MS - 10);
    w.answered(1);
    w.answered(2);
    expect(told).toEqual([]);
    w.command(3, 'Runtime.callFunctionOn');
    advance(LONG_EVALUATION_MS);
    expect(told).toEqual([{ id: expect.stringMatching(/^\d+\.3$/), what: 'evaluation', since: 1_000 + LONG_EVALUATION_MS - 10, until: null }]);
    advance(1_400);
    w.answered(3);
    expect(told[1]).toEqual({ ...told[0], until: told[0]!.since + LONG_EVALUATION_MS + 1_400 });
  });

  // review8.4: an awaited evaluation's answer comes when its promise settles (a fetch, a timer: the
  // loop runs meanwhile), so its span says nothing of what held the thread; told, it named a DevTools
  // client instead of an app's own 1.5 s block in that span.
  it('does not follow an evaluation that awaits its promise (awaitPromise: true): its answer waits on the loop, not the thread', () => {
    const { w, told, advance } = watched();
    for (const [id, method] of [[1, 'Runtime.evaluate'], [2, 'Runtime.callFunctionOn'], [3, 'Runtime.runScript']] as const) w.command(id, method, { awaitPromise: true });
    advance(6_000);
    expect(told).toEqual([]);
    expect(w.waiting).toBe(false);
    w.command(4, 'Runtime.evaluate', { awaitPromise: false });
    advance(LONG_EVALUATION_MS);
    expect(told.map((r) => r.what)).toEqual(['evaluation']);
    expect(workCommand('{"id":7,"method":"Runtime.evaluate","params":{"expression":"await 1","awaitPromise":true}}')).toBeNull();
    expect(workCommand('{"id":7,"method":"Runtime.evaluate","params":{"expression":"1","awaitPromise":false}}')).toEqual({ id: 7, method: 'Runtime.evaluate' });
  });

  it('ends what was told when the client leaves before its answer', () => {
    const { w, told, advance } = watched();
    w.command(9, 'HeapProfiler.takeHeapSnapshot');
    advance(500);
    w.closed();
    expect(told.map((r) => r.until)).toEqual([null, 1_500]);
  });

  it("reads a client's message only when it names followed work, and an answer's id from its first bytes", () => {
    expect(workCommand('{"id":7,"method":"Runtime.evaluate","params":{"expression":"1"}}')).toEqual({ id: 7, method: 'Runtime.evaluate' });
    expect(workCommand('{"id":8,"method":"Runtime.enable"}')).toBeNull();
    expect(workCommand('{"id":9,"method":"Debugger.enable"}')).toBeNull();
    expect(workCommand('{"id":"x","method":"HeapProfiler.takeHeapSnapshot"}')).toBeNull();
    expect(answerId('{"id":12,"result":{"result":{"type":"number"')).toBe(12);
    expect(answerId('{"method":"HeapProfiler.addHeapSnapshotChunk"')).toBeNull();
  });
});
