// Unit: server/cli/inspect.ts getJson, the read of discovery's list by `tspuma inspect`, against a
// server that never answers or stops after the head: it rejects at its bound with what came back.
// (test/integration/inspect-list-errors.test.ts runs the command against servers that close or
// cut the answer; its case for a server that never answers waited out the 5 s bound.) The bound is
// --timeout's when given, else LIST_TIMEOUT_MS, and its error says which.
import { afterEach, describe, expect, it } from 'vitest';
import { LIST_TIMEOUT_MS, getJson, inspect, parseInspectArgs, readList } from '../../server/cli/inspect.js';
import type { TspumaError } from '../../server/errors.js';
import { tcpServers } from '../helpers/net.js';

const tcp = tcpServers();
afterEach(() => tcp.closeAll());

const serving = async (onConnection: Parameters<typeof tcp.serve>[0]): Promise<string> => `http://127.0.0.1:${await tcp.serve(onConnection)}/json/list`;

describe('getJson', () => {
  it('a server that accepts and never answers: rejects at its bound, "nothing came back"', async () => {
    const url = await serving(() => undefined);
    const started = Date.now();
    await expect(getJson(url, 300)).rejects.toThrow(/^no complete answer within 300 ms \(nothing came back; the connection is still open\)$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(295);
  });

  it('a server that sends the head and then nothing: rejects at its bound, saying the head came', async () => {
    const url = await serving((c) => c.once('data', () => c.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n')));
    await expect(getJson(url, 300)).rejects.toThrow(/^no complete answer within 300 ms \(the head of an answer came back, no body; the connection is still open\)$/);
  });

  it('a whole answer: its JSON', async () => {
    const url = await serving((c) => c.once('data', () => c.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\n[{"a":1}]')));
    expect(await getJson(url, 5000)).toEqual([{ a: 1 }]);
  });
});

describe('tspuma inspect: the list read', () => {
  it('tspuma inspect reads the list within --timeout when it is given, and its error says which bound ran out and that the server accepted the connection', async () => {
    const url = await serving(() => undefined);
    const started = Date.now();
    const err = await inspect(['list', '--url', url.replace('/json/list', ''), '--timeout', '300']).then(() => null, (e: unknown) => e as TspumaError);
    expect(Date.now() - started).toBeLessThan(LIST_TIMEOUT_MS);
    expect(err?.code).toBe('TSPUMA_ERR_INSPECT_DISCOVERY');
    expect(err?.message).toBe(`Cannot read the inspector list at ${url} (--url): no complete answer within 300 ms (from --timeout; a larger one waits longer; nothing came back; the connection is still open). The server accepted the connection and sent no whole answer: a tspuma whose primary is paused in a debugger, stopped (SIGSTOP) or busy, or another server on that port.`);
  });

  it("without --timeout, the list's own default bound (not --timeout's 2 s for attaching), said as the default and how to wait longer", async () => {
    const url = await serving(() => undefined);
    const err = await readList({ ...parseInspectArgs(['list']), url: url.replace('/json/list', ''), urlSource: '--url' }, 300).then(() => null, (e: unknown) => e as TspumaError);
    expect(err?.message).toContain('no complete answer within 300 ms (the default; `tspuma inspect list --timeout MS` waits longer; nothing came back; the connection is still open)');
  });
});
