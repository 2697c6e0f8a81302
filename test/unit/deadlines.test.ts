// Connection deadlines: deadlines per state and fault isolation (the seed's `timeout_at for nil`).
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionDeadlines } from '../../server/deadlines.js';
import { captureLogger } from '../helpers/server.js';
import { waitFor } from '../helpers/net.js';

const open: net.Socket[] = [];
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A connected pair: the server side goes to the deadlines. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket }> {
  const srv = net.createServer();
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  open.push(client, server);
  return { server, client };
}

function deadlines(handlers: Partial<ConstructorParameters<typeof ConnectionDeadlines>[1]> = {}) {
  const cap = captureLogger(true);
  const r = new ConnectionDeadlines({ firstData: 0.2, headers: 0.5, body: 0.4, persistent: 0.2, request: 0, idle: null, upgradedIdle: 5 }, { readTimeout: () => undefined, requestTimeout: () => undefined, idle: () => undefined, ...handlers }, cap.logger);
  return { r, lines: cap.lines };
}

describe('ConnectionDeadlines', () => {
  it('keeps an upgraded connection while bytes move either way, closes it when they stop, and lists it for shutdown', async () => {
    const { r } = deadlines();
    const { server, client } = await pair();
    const entry = r.add(server);
    const closes: string[] = [];
    r.toLongLived(entry, 'upgraded', (why) => closes.push(why));
    expect(r.counts()).toMatchObject({ upgraded: 1, first_data: 0, app: 0 });
    expect(r.longLived()).toEqual([entry]);
    const t0 = performance.now();
    // Bytes from the client push the deadline back.
    server.resume();
    client.write('ping');
    await waitFor(() => server.bytesRead > 0, 'bytes to arrive');
    r.sweep(t0 + 6000);
    expect(closes).toEqual([]);
    // Bytes to the client count too.
    server.write('pong');
    await waitFor(() => server.bytesWritten > 0, 'bytes to leave');
    r.sweep(t0 + 12_000);
    expect(closes).toEqual([]);
    // Nothing moved since: closed as idle, and asked again a period later if still open.
    r.sweep(t0 + 18_000);
    expect(closes).toEqual(['idle']);
    r.sweep(t0 + 24_000);
    expect(closes).toEqual(['idle', 'idle']);
    expect(entry.state).toBe('upgraded');
  });

  it('closes a connection that never sends a byte after firstDataTimeout', async () => {
    const { r } = deadlines();
    const { server } = await pair();
    r.add(server);
    expect(r.counts().first_data).toBe(1);
    r.sweep(performance.now() + 1000);
    expect(server.destroyed).toBe(true);
    expect(r.size).toBe(0);
  });

  it('never fires a deadline early: the clock it is set by lags real time by up to a tick', async () => {
    const { r } = deadlines();
    const { server } = await pair();
    const t0 = performance.now();
    r.sweep(t0 - r.tickMs); // the last tick was a whole tick ago
    r.add(server); // at t0 or a little after, in real time: firstDataTimeout is 200 ms
    r.sweep(t0 + 199);
    expect(server.destroyed).toBe(false);
    r.sweep(t0 + 200 + 2 * r.tickMs + 1);
    expect(server.destroyed).toBe(true);
  });

  it('reads what came while the loop was held before expiring anything: a late tick only advances the clock (order7.3)', async () => {
    const { r } = deadlines();
    const { server, client } = await pair();
    server.resume();
    r.start();
    try {
      const entry = r.add(server); // firstDataTimeout 200 ms
      // In the kernel's buffer at once; this process reads it in its next poll phase, after the timers phase.
      client.write('GET / HT');
      const until = performance.now() + 600;
      while (performance.now() < until); // the loop held past the deadline (a heap snapshot, say)
      await waitFor(() => server.destroyed || entry.state === 'reading', 'the bytes read, or the connection closed');
      expect({ destroyed: server.destroyed, state: entry.state }).toEqual({ destroyed: false, state: 'reading' });
    } finally {
      r.stop();
    }
  });

  it('moves a connection that sent part of a request to reading, then calls readTimeout', async () => {
    const timedOut: string[] = [];
    const { r } = deadlines({ readTimeout: (e, why) => timedOut.push(`${e.id} ${why}`) });
    const { server, client } = await pair();
    const entry = r.add(server);
    server.resume();
    client.write('GET / HT');
    await waitFor(() => server.bytesRead > 0, 'bytes to arrive');
    expect(r.counts().reading).toBe(1);
    r.sweep(performance.now() + 1000);
    expect(entry.state).toBe('reading');
    r.sweep(performance.now() + 2000);
    expect(timedOut).toEqual([`${entry.id} headers`]);
  });

  it('measures firstDataTimeout from the last byte seen, not from the start of the wait', async () => {
    const timedOut: string[] = [];
    const { r } = deadlines({ readTimeout: (e, why) => timedOut.push(why) });
    const { server, client } = await pair();
    const t0 = performance.now();
    r.sweep(t0);
    r.add(server); // first_data deadline: t0 + 200 ms (+ a tick)
    server.resume();
    client.write('GET / HT');
    await waitFor(() => server.bytesRead > 0, 'bytes to arrive');
    // The byte is seen 150 ms in: the stall is counted from there, so nothing fires at t0 + 300.
    r.sweep(t0 + 150);
    r.sweep(t0 + 300);
    expect(timedOut).toEqual([]);
    // Past 150 + 200 ms and two ticks, with no new byte: stalled, well inside headersTimeout (500 ms).
    r.sweep(t0 + 150 + 200 + 2 * r.tickMs + 1);
    expect(timedOut).toEqual(['stalled']);
  });

  it('ends a head dripped one byte per tick at headersTimeout from its first byte', async () => {
    const timedOut: { why: string; at: number }[] = [];
    let now = 0;
    const { r } = deadlines({ readTimeout: (_e, why) => timedOut.push({ why, at: now }) });
    const { server, client } = await pair();
    const t0 = performance.now();
    r.sweep(t0);
    r.add(server);
    server.resume();
    // A byte every 100 ms (firstDataTimeout is 200 ms, so each one would reset a stall clock).
    for (let i = 1; i <= 12 && timedOut.length === 0; i++) {
      const before = server.bytesRead;
      client.write('G');
      await waitFor(() => server.bytesRead > before, `byte ${i}`);
      now = t0 + i * 100;
      r.sweep(now);
    }
    // The first byte was seen at t0 + 100: headersTimeout (500 ms) ends it by t0 + 600 plus a tick.
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]!.why).toBe('headers');
    expect(timedOut[0]!.at).toBeGreaterThanOrEqual(t0 + 600);
    expect(timedOut[0]!.at).toBeLessThanOrEqual(t0 + 600 + 2 * r.tickMs);
  });

  it('catches an entry with no deadline: logged once, evicted, sweeping goes on', async () => {
    const { r, lines } = deadlines();
    const a = await pair();
    const b = await pair();
    const c = await pair();
    const bad = r.add(a.server);
    const bad2 = r.add(b.server);
    const good = r.add(c.server);
    (bad as { deadline: unknown }).deadline = undefined; // the seed's nil entry
    (bad2 as { deadline: unknown }).deadline = undefined;
    r.sweep(performance.now() + 1000);
    expect(r.faults).toBe(2);
    expect(a.server.destroyed && b.server.destroyed).toBe(true);
    const errors = lines.filter((l) => l.code === 'TSPUMA_ERR_REACTOR_ENTRY' && l.level === 50);
    expect(errors).toHaveLength(1); // the second of the same kind is a debug line, not a flood
    expect(errors[0]!.entry).toMatchObject({ id: bad.id, phase: 'first_data', deadline: 'undefined' });
    expect(c.server.destroyed).toBe(true); // the good one still expired normally in the same pass
    expect(good.state).toBe('first_data');
    expect(r.size).toBe(0);
  });

  it('keeps its list whole when connections leave from either end or the middle, and only once each', async () => {
    const { r } = deadlines();
    const pairs = await Promise.all(Array.from({ length: 5 }, () => pair()));
    const entries = pairs.map((p) => r.add(p.server));
    r.remove(entries[1]!);
    r.remove(entries[0]!);
    r.remove(entries[4]!);
    r.remove(entries[1]!); // a second 'close' for the same connection
    expect(r.size).toBe(2);
    expect(Object.values(r.counts()).reduce((a, b) => a + b, 0)).toBe(2);
    const later = await pair();
    r.add(later.server);
    expect(r.closeIdle()).toBe(3);
    expect(r.size).toBe(0);
    expect([entries[2], entries[3], { socket: later.server }].every((e) => e!.socket.destroyed)).toBe(true);
    expect(entries[0]!.socket.destroyed || entries[4]!.socket.destroyed).toBe(false);
  });

  it('survives a handler that throws', async () => {
    const { r, lines } = deadlines({
      readTimeout: () => {
        throw new Error('handler exploded');
      },
    });
    const { server, client } = await pair();
    r.add(server);
    server.resume();
    client.write('G');
    await waitFor(() => server.bytesRead > 0, 'a byte');
    r.sweep(performance.now() + 1000);
    expect(() => r.sweep(performance.now() + 2000)).not.toThrow();
    expect(lines.some((l) => l.code === 'TSPUMA_ERR_REACTOR_FAULT')).toBe(true);
  });

  it('closes only idle connections on shutdown', async () => {
    const { r } = deadlines();
    const idle = await pair();
    const busy = await pair();
    r.add(idle.server);
    r.add(busy.server);
    busy.server.resume();
    busy.client.write('GET');
    await waitFor(() => busy.server.bytesRead > 0, 'bytes');
    expect(r.closeIdle()).toBe(1);
    expect(idle.server.destroyed).toBe(true);
    expect(busy.server.destroyed).toBe(false);
  });

  it('reports a request entering the app at once after a quiet 250 ms, and the ones within 250 ms of a report together at its end, once', () => {
    vi.useFakeTimers();
    try {
      const { r } = deadlines();
      let reports = 0;
      r.onAppEntry = () => reports++;
      r.appEntered();
      expect(reports).toBe(1); // at once: a request that blocks the loop is in the primary's last news
      vi.advanceTimersByTime(100);
      r.appEntered();
      r.appEntered();
      expect(reports).toBe(1);
      vi.advanceTimersByTime(150); // the window's end: both in one report
      expect(reports).toBe(2);
      vi.advanceTimersByTime(250); // a window with no entry: nothing to report, and the window closes
      expect(reports).toBe(2);
      vi.advanceTimersByTime(1000);
      r.appEntered();
      expect(reports).toBe(3);
      r.appEntered();
      r.stop(); // the window's timer goes with the others
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
  it("under debug mode logs each connection's state changes only while its logger is at debug, following a level change made while it runs", async () => {
    const cap = captureLogger(false);
    // Debug mode's hook as the deadlines use it: sweeps run inside its scope.
    const hook = { scope: <T>(_phase: unknown, fn: () => T): T => fn() } as unknown as ConstructorParameters<typeof ConnectionDeadlines>[3];
    const r = new ConnectionDeadlines({ firstData: 5, headers: 5, body: 5, persistent: 5, request: 0, idle: null, upgradedIdle: 5 }, { readTimeout: () => undefined, requestTimeout: () => undefined, idle: () => undefined }, cap.logger, hook);
    r.start();
    try {
      const changes = () => cap.lines.filter((l) => l.msg === 'connection state change').length;
      const first = await pair();
      const a = r.add(first.server);
      r.toLongLived(a, 'upgraded', () => undefined);
      expect(changes()).toBe(0);
      cap.logger.level = 'debug';
      const second = await pair();
      const b = r.add(second.server);
      r.toLongLived(b, 'upgraded', () => undefined);
      await waitFor(() => changes() === 1, 'the state change logged at debug');
      expect(cap.lines.find((l) => l.msg === 'connection state change')).toMatchObject({ id: b.id, from: 'first_data', to: 'upgraded' });
      cap.logger.level = 'info';
      r.toLongLived(a, 'upgraded', () => undefined);
      expect(changes()).toBe(1);
    } finally {
      r.stop();
    }
    // Stopped: it no longer listens to the logger.
    expect(cap.logger.listenerCount('level-change')).toBe(0);
  });
});
