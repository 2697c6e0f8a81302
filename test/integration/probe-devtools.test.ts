// Integration (findings P6, P10): a probe beside a DevTools client attached through discovery
// (chrome-remote-interface), in a -w 1 worker (the proxy to its own inspector) and in single mode
// (the bridge to the main thread). A client's breakpoint on the very line a logpoint is on holds:
// the probe logs its hit and leaves the pause to the client, which can still evaluate on the
// paused frame and resumes it itself; a client's step onto a probed line holds the same way.
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProbeView } from '../../server/cluster/probe-registry.js';
import { allBooted, boot, controlUrl, discoveryUrl, killAll, ROOT } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { answeredView } from '../helpers/probe-answered.js';
import { postOrder } from '../helpers/orders.js';
import { tempDir } from '../helpers/temp.js';

afterAll(killAll);

const EXPRESS = join(ROOT, 'examples/express.ts');
const TOKEN = 'probe-devtools-token-0123456789';
const CHARGE_LINE = lineOf('examples/express.ts', 'const charge = await chargeCard(order, paymentApiKey);');
const ORDER_LINE = lineOf('examples/express.ts', 'const order = { id: ++lastOrderId');

interface Paused {
  reason: string;
  hitBreakpoints?: string[];
  callFrames: { callFrameId: string; location: { lineNumber: number } }[];
}

for (const [mode, args, target] of [
  ['-w 1', ['-w', '1'], 'tspuma-worker-0'],
  ['single mode', ['-w', '0'], 'tspuma-single'],
] as const) {
  describe(`a probe beside a DevTools client (${mode}, ${target})`, () => {
    it('a client\'s breakpoint on a logpoint\'s line, and its step onto that line, hold: the probe logs its hit and the client evaluates on the paused frame, then resumes it', async () => {
      const dir = tempDir('probe-devtools');
      const s = await boot([...args, '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '--control-token', TOKEN, '-S', join(dir, 'tspuma.state'), EXPRESS]);
      if (args[1] !== '0') await allBooted(s);
      const control = await controlUrl(s);
      const api = async <T>(method: string, path: string, body?: unknown) => {
        const res = await fetch(`${control}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        return (await res.json()) as T;
      };
      /** The generated place of a .ts line, as a probe there is armed: [url, lineNumber, columnNumber], 0-based. */
      const placeOf = async (line: number): Promise<[string, number, number]> => {
        const { id } = await api<ProbeView>('POST', '/probes', { kind: 'count', location: `${EXPRESS}:${line}`, by: 'the test' });
        const view = await answeredView(() => api<ProbeView>('GET', `/probes/${id}`));
        await api('DELETE', `/probes/${id}`);
        const at = /^(\S+), generated line (\d+) column (\d+)/.exec(String(view.workers[0]?.at))!;
        return [at[1]!, Number(at[2]) - 1, Number(at[3]) - 1];
      };
      const [url, chargeLine, chargeColumn] = await placeOf(CHARGE_LINE);
      const [, orderLine, orderColumn] = await placeOf(ORDER_LINE);

      const base = new URL(await discoveryUrl(s));
      const client = await attachThroughDiscovery(base, target);
      try {
        const pauses: Paused[] = [];
        client.Debugger.paused((p) => pauses.push(p as Paused));
        await client.Debugger.enable({});
        const probe = await api<ProbeView>('POST', '/probes', { kind: 'log', location: `${EXPRESS}:${CHARGE_LINE}`, template: 'charged {order.id}', by: 'the test' });
        await answeredView(() => api<ProbeView>('GET', `/probes/${probe.id}`));
        const hits = () => s.lines().filter((l) => l.probe === probe.id && typeof l.values === 'object');

        // 1. The client's breakpoint on the probe's line (P6).
        const { breakpointId } = await client.Debugger.setBreakpointByUrl({ url, lineNumber: chargeLine, columnNumber: chargeColumn });
        let answered = false;
        const first = postOrder(s.url, { items: [{ sku: 'A', price: 3, quantity: 1 }] }).then((r) => ((answered = true), r));
        const held = await waitFor(() => pauses.find((p) => p.hitBreakpoints?.includes(breakpointId)), 'the client\'s pause at its breakpoint', 20_000);
        await waitFor(() => hits().length === 1, 'the probe\'s hit logged', 20_000);
        // Still paused after the probe handled its hit: the client reads the frame, and the request waits.
        const read = await client.Debugger.evaluateOnCallFrame({ callFrameId: held.callFrames[0]!.callFrameId, expression: 'order.items' });
        expect(read.result.value).toBe(1);
        expect(answered).toBe(false);
        await client.Debugger.removeBreakpoint({ breakpointId });
        await client.Debugger.resume({});
        expect((await first).status).toBe(201);
        expect(hits()[0]!.msg).toMatch(new RegExp(`^probe ${probe.id} examples/express\\.ts:${CHARGE_LINE} \\[[^\\]]+\\]: charged \\d+$`));

        // 2. A breakpoint on the line before, then a step onto the probe's line (P10).
        const before = await client.Debugger.setBreakpointByUrl({ url, lineNumber: orderLine, columnNumber: orderColumn });
        pauses.length = 0;
        answered = false;
        const second = postOrder(s.url, { items: [{ sku: 'B', price: 4, quantity: 2 }] }).then((r) => ((answered = true), r));
        await waitFor(() => pauses.find((p) => p.hitBreakpoints?.includes(before.breakpointId)), 'the client\'s pause on the line before', 20_000);
        await client.Debugger.stepOver();
        const stepped = await waitFor(() => pauses.find((p) => p.callFrames[0]!.location.lineNumber === chargeLine), 'the step onto the probe\'s line', 20_000);
        await waitFor(() => hits().length === 2, 'the probe\'s hit at the step logged', 20_000);
        const total = await client.Debugger.evaluateOnCallFrame({ callFrameId: stepped.callFrames[0]!.callFrameId, expression: 'order.total' });
        expect(total.result.value).toBe(8);
        expect(answered).toBe(false);
        await client.Debugger.removeBreakpoint({ breakpointId: before.breakpointId });
        await client.Debugger.resume({});
        expect((await second).status).toBe(201);
      } finally {
        await client.close();
      }
      // Once the client has gone, the probe's pauses are its own again: a hit is resumed at once.
      expect((await postOrder(s.url, { items: [{ sku: 'C', price: 1, quantity: 1 }] })).status).toBe(201);
    }, 120_000 * SLOWNESS);
  });
}
