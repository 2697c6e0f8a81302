// Unit: server/cli/inspect.ts getJson, the read of discovery's list by `tspuma inspect`, against a
// server that never answers or stops after the head: it rejects at its bound with what came back.
// (test/integration/inspect-list-errors.test.ts runs the command against servers that close or
// cut the answer; its case for a server that never answers waited out the 5 s bound.)
import { afterEach, describe, expect, it } from 'vitest';
import { LIST_TIMEOUT_MS, getJson } from '../../server/cli/inspect.js';
import { tcpServers } from '../helpers/net.js';

const tcp = tcpServers();
afterEach(() => tcp.closeAll());

const serving = async (onConnection: Parameters<typeof tcp.serve>[0]): Promise<string> => `http://127.0.0.1:${await tcp.serve(onConnection)}/json/list`;

describe('getJson', () => {
  it(`waits ${LIST_TIMEOUT_MS} ms for tspuma inspect's list`, () => {
    expect(LIST_TIMEOUT_MS).toBe(5000);
  });

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
