// feedback-reset.ts: node's request-path functions forget the boot's feedback at the first request,
// once, without leaving V8's natives syntax on for anyone else's code.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import stream from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../helpers/net.js';

type Module = typeof import('../../server/feedback-reset.js');

/** A fresh instance of the module: another file of the shared fork may have armed (and fired) its own. */
async function fresh(): Promise<Module> {
  vi.resetModules();
  return import('../../server/feedback-reset.js');
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

describe('feedback-reset', () => {
  it("names node's emitter, stream, socket and http functions, EventEmitter.init and the stream state constructors", async () => {
    const { requestPathFunctions } = await fresh();
    const all = requestPathFunctions();
    const readableState = (new stream.Readable() as unknown as { _readableState: object })._readableState.constructor;
    for (const f of [(EventEmitter as unknown as { init: Function }).init, readableState, http.ServerResponse, Object.getPrototypeOf(http.ServerResponse), EventEmitter.prototype.removeListener, stream.Readable.prototype.on]) {
      expect(all).toContain(f);
    }
    expect(all.every((f) => typeof f === 'function')).toBe(true);
  });

  it('clears every one of them on this node, and leaves natives syntax off afterwards', async () => {
    expect(process.execArgv).not.toContain('--allow-natives-syntax');
    const { requestPathFunctions, resetNodeFeedback } = await fresh();
    expect(resetNodeFeedback()).toBe(requestPathFunctions().length);
    // Code compiled later (an app's eval, new Function) gets no V8 runtime calls.
    expect(() => new Function('%DebugPrint(1)')).toThrow(SyntaxError);
  });

  it('runs once, after the first request a node:http server starts, and unsubscribes', async () => {
    const { feedbackResetState, resetFeedbackAtFirstRequest, requestPathFunctions } = await fresh();
    expect(feedbackResetState()).toEqual({ waiting: false, reset: null });
    resetFeedbackAtFirstRequest();
    resetFeedbackAtFirstRequest(); // a second call arms nothing more
    expect(feedbackResetState()).toEqual({ waiting: true, reset: null });
    const server = http.createServer((_req, res) => res.end('served'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    expect(await get(port)).toBe('served');
    await waitFor(() => feedbackResetState().reset !== null, 'the reset after the first request');
    expect(feedbackResetState()).toEqual({ waiting: false, reset: requestPathFunctions().length });
    // Node's functions work on after it (their code recompiles from cleared feedback).
    expect(await get(port)).toBe('served');
    expect(await get(port)).toBe('served');
    expect(feedbackResetState().reset).toBe(requestPathFunctions().length);
  });
});
