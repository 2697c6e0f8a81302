// errored-stream-shape.ts destroys one handle-less socket with an error at boot, so a client's
// first reset under load does not throw away node's optimized stream functions (bench/README.md,
// session 24, hono6). Pinned here in a child with V8's natives: a function optimized on an
// accepted-like socket's states is deoptimized by the first errored destroy of another socket
// (node's assumption the module works around), and not when the module ran before it was
// optimized; the boot socket shares the maps of the sockets a server accepts.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SLOWNESS } from '../helpers/net.js';

const MODULE = new URL('../../dist/server/errored-stream-shape.js', import.meta.url).href;

/** Runs `body` (an async function's statements, `m` the module, `net` node:net) in a child node with V8's natives; returns what it printed as JSON. */
function child(body: string): Record<string, unknown> {
  const script = `const net = require('node:net');
const optimized = (f) => (%GetOptimizationStatus(f) & 16) !== 0;
const later = () => new Promise((r) => setTimeout(r, 5));
import(${JSON.stringify(MODULE)}).then(async (m) => { ${body} }).catch((e) => { console.error(e); process.exit(1); });`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', timeout: 30_000 * SLOWNESS });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.trim()) as Record<string, unknown>;
}

/** Optimizes a reader of a live socket's two states, destroys another socket with an error, and reports whether the reader survived. */
const READER_THEN_RESET = `
  function reader(s) { return (s._readableState.errored ? 1 : 0) + (s._writableState.errored ? 2 : 0) + s._readableState.length; }
  const live = new net.Socket();
  %PrepareFunctionForOptimization(reader);
  reader(live); reader(live);
  %OptimizeFunctionOnNextCall(reader);
  reader(live);
  const before = optimized(reader);
  const reset = new net.Socket();
  reset.on('error', () => {});
  reset.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  await later();
  const result = { before, after: optimized(reader), value: reader(live) };`;

describe('takeErroredStreamTransitions', () => {
  it("node's assumption: a socket's first errored destroy deoptimizes code optimized on the states of sockets never errored", () => {
    const r = child(`${READER_THEN_RESET}
      console.log(JSON.stringify(result));`);
    expect(r).toEqual({ before: true, after: false, value: 0 });
  });

  it('taken at boot, the first errored destroy under load leaves that code optimized', () => {
    const r = child(`
      m.takeErroredStreamTransitions();
      m.takeErroredStreamTransitions();
      await later();
      ${READER_THEN_RESET}
      console.log(JSON.stringify(result));`);
    expect(r).toEqual({ before: true, after: true, value: 0 });
  });

  it("uses a socket with the maps of a server's accepted socket and its states (no new map on node's request path)", () => {
    const r = child(`
      const fresh = new net.Socket();
      const seen = await new Promise((resolve) => {
        const server = net.createServer((s) => {
          resolve({ socket: %HaveSameMap(s, fresh), readable: %HaveSameMap(s._readableState, fresh._readableState), writable: %HaveSameMap(s._writableState, fresh._writableState) });
          s.destroy();
          server.close();
        }).listen(0, '127.0.0.1', () => net.connect(server.address().port, '127.0.0.1').on('error', () => {}));
      });
      console.log(JSON.stringify(seen));`);
    expect(r).toEqual({ socket: true, readable: true, writable: true });
  });
});
