// Which port each worker asks node:inspector for: a fixed base gives the predictable layout
// (worker i on base+2+i; the primary and the single process open none, discovery's bridge serves
// them); base 0 leaves every port to the kernel. node:inspector is replaced, so nothing opens in
// the test process.
import net from 'node:net';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { busyPortProbe, nodePrintsInspectorLines, openInspector, type WorkerRole } from '../../inspector/open.js';
import { captureLogger } from '../helpers/server.js';

const fake = vi.hoisted(() => ({ opened: [] as { port: number; host: string }[], url: undefined as string | undefined, closed: 0, busy: new Set<number>() }));
vi.mock('node:inspector', () => ({
  default: {
    url: () => fake.url,
    open: (port: number, host: string) => {
      fake.opened.push({ port, host });
      fake.url = fake.busy.has(port) ? undefined : `ws://${host}:${port === 0 ? 40123 : port}/uuid`;
    },
    close: () => {
      fake.closed++;
      fake.url = undefined;
    },
  },
}));

beforeEach(() => {
  fake.opened = [];
  fake.url = undefined;
  fake.closed = 0;
  fake.busy = new Set();
});

const free = () => null;

describe('openInspector', () => {
  const cases: [WorkerRole, number][] = [
    [{ kind: 'worker', index: 0 }, 9302],
    [{ kind: 'worker', index: 1 }, 9303],
    [{ kind: 'worker', index: 3 }, 9305],
  ];
  for (const [role, port] of cases) {
    it(`base 9300: worker ${role.index} opens port ${port} and logs its address`, () => {
      const { logger, lines } = captureLogger();
      expect(openInspector({ host: '127.0.0.1', port: 9300, explicit: true }, role, logger, free)).toBe(`ws://127.0.0.1:${port}/uuid`);
      expect(fake.opened).toEqual([{ port, host: '127.0.0.1' }]);
      expect(lines.map((l) => l.inspector)).toEqual([`ws://127.0.0.1:${port}/uuid`]);
    });
  }

  it('base 0: every worker asks for port 0 (the kernel picks) and logs the port it got', () => {
    for (const role of cases.map(([r]) => r)) {
      fake.url = undefined;
      const { logger, lines } = captureLogger();
      openInspector({ host: '127.0.0.1', port: 0, explicit: true }, role, logger, () => {
        throw new Error('port 0 is never probed');
      });
      expect(lines.map((l) => l.inspector)).toEqual(['ws://127.0.0.1:40123/uuid']);
    }
    expect(fake.opened.map((o) => o.port)).toEqual([0, 0, 0]);
  });
});

describe("Node's own inspector lines", () => {
  it('Node prints them unless the last --inspect-publish-uid (NODE_OPTIONS, then the command line, which wins) leaves out stderr', () => {
    expect(nodePrintsInspectorLines([], undefined)).toBe(true);
    expect(nodePrintsInspectorLines(['--inspect-publish-uid=http'], undefined)).toBe(false);
    expect(nodePrintsInspectorLines([], '--max-old-space-size=512 --inspect-publish-uid=http')).toBe(false);
    expect(nodePrintsInspectorLines([], '--inspect-publish-uid http')).toBe(false);
    expect(nodePrintsInspectorLines(['--inspect-publish-uid=stderr'], '--inspect-publish-uid=http')).toBe(true);
    expect(nodePrintsInspectorLines(['--inspect-publish-uid=http,stderr'], undefined)).toBe(true);
  });

  it("tspuma's line says Node's line names the same address only when Node printed one", () => {
    const said = (nodePrints: boolean) => {
      fake.url = undefined;
      const { logger, lines } = captureLogger();
      openInspector({ host: '127.0.0.1', port: 0, explicit: true }, { kind: 'worker', index: 0 }, logger, free, nodePrints);
      return lines.map((l) => l.msg);
    };
    expect(said(true)).toEqual([`* Inspector of worker 0 (PID: ${process.pid}): ws://127.0.0.1:40123/uuid (Node's own "Debugger listening" line on stderr names the same address)`]);
    expect(said(false)).toEqual([`* Inspector of worker 0 (PID: ${process.pid}): ws://127.0.0.1:40123/uuid`]);
  });

  it("a busy port: the address line comes first (right after Node's lines), the warning naming the holder after it", () => {
    const { logger, lines } = captureLogger();
    openInspector({ host: '127.0.0.1', port: 9300, explicit: true }, { kind: 'worker', index: 1 }, logger, () => ({ pid: 4242, command: 'node other.js' }), true);
    expect(fake.opened).toEqual([{ port: 0, host: '127.0.0.1' }]);
    expect(lines.map((l) => l.msg)).toEqual([
      `* Inspector of worker 1 (PID: ${process.pid}): ws://127.0.0.1:40123/uuid (Node's own "Debugger listening" line on stderr names the same address)`,
      'Inspector port 9303 (worker 1) is in use (held by pid 4242: node other.js); opened 127.0.0.1:40123 instead',
    ]);
  });
});

describe('a port whose holder cannot be named (another user\'s process: its fds are not readable; review16.3)', () => {
  it("is reported busy and never tried, so Node prints no 'Starting inspector … failed' line; the warning says the holder could not be named; once free it is free again", async () => {
    const held = net.createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    const port = (held.address() as net.AddressInfo).port;
    const cannotName = () => null; // what findPortHolder gives for a socket of another user's process
    try {
      fake.busy.add(port);
      const { logger, lines } = captureLogger();
      const url = openInspector({ host: '127.0.0.1', port: port - 2, explicit: true }, { kind: 'worker', index: 0 }, logger, busyPortProbe(cannotName), false);
      expect(url).toBe('ws://127.0.0.1:40123/uuid');
      expect(fake.opened).toEqual([{ port: 0, host: '127.0.0.1' }]);
      expect(lines.at(-1)).toMatchObject({ level: 40, holder: null, msg: `Inspector port ${port} (worker 0) is in use (its holder could not be named: another user's process; \`ss -ltnp 'sport = :${port}'\` as root shows it); opened 127.0.0.1:40123 instead` });
    } finally {
      await new Promise((r) => held.close(r));
    }
    expect(busyPortProbe(cannotName)(port)).toBeNull();
  });
});

describe('a restart: the port held by the worker this one replaces (N28)', () => {
  /** Worker 1 of base 9300 (port 9303), its port held by pid 4242, a child of `parent`; `gone` says when 4242 has exited. */
  function replacing(parent: number) {
    const { logger, lines } = captureLogger();
    const moved: string[] = [];
    const state = { gone: false, parent };
    vi.useFakeTimers();
    const url = openInspector({ host: '127.0.0.1', port: 9300, explicit: true }, { kind: 'worker', index: 1 }, logger, () => ({ pid: 4242, command: 'tspuma worker 1' }), false, {
      onMoved: (u) => moved.push(u),
      parentOf: (pid) => (pid === 4242 ? state.parent : null),
      exited: (pid) => pid === 4242 && state.gone,
      everyMs: 100,
    });
    return { url, lines, moved, state };
  }

  it('its predecessor (a sibling under the same primary): an info line, no warning; once it exits the inspector moves to its own port and the primary is told', () => {
    try {
      const r = replacing(process.ppid);
      expect(r.url).toBe('ws://127.0.0.1:40123/uuid');
      expect(r.lines.map((l) => [l.level, l.msg])).toEqual([
        [30, `* Inspector of worker 1 (PID: ${process.pid}): ws://127.0.0.1:40123/uuid`],
        [30, 'Inspector port 9303 (worker 1) is still held by the worker this one replaces (pid 4242); opened 127.0.0.1:40123 until it exits, then port 9303'],
      ]);
      vi.advanceTimersByTime(1000);
      expect(r.moved).toEqual([]);
      r.state.gone = true;
      vi.advanceTimersByTime(100);
      expect(fake.closed).toBe(1);
      expect(fake.opened.map((o) => o.port)).toEqual([0, 9303]);
      expect(r.moved).toEqual(['ws://127.0.0.1:9303/uuid']);
      expect(r.lines.at(-1)!.msg).toBe(`* Inspector of worker 1 (PID: ${process.pid}) moved to its own port: ws://127.0.0.1:9303/uuid (the worker it replaced exited; sessions on 127.0.0.1:40123 ended: reattach here or through discovery)`);
      // Moved once: the watch stops.
      vi.advanceTimersByTime(1000);
      expect(r.moved).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a port taken again by then: a free one, with the warning', () => {
    try {
      const r = replacing(process.ppid);
      fake.busy.add(9303);
      r.state.gone = true;
      vi.advanceTimersByTime(100);
      expect(r.moved).toEqual(['ws://127.0.0.1:40123/uuid']);
      expect(r.lines.at(-1)).toMatchObject({ level: 40, msg: 'Inspector port 9303 (worker 1) is in use, after the worker it replaced exited; opened 127.0.0.1:40123 instead' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('its predecessor reaped and its pid taken by a process of another parent (review7.6): counted as exited, the inspector moves and the watch stops', () => {
    try {
      const r = replacing(process.ppid);
      r.state.parent = process.ppid + 1; // 4242 exited, was reaped, and the pid went to someone else
      vi.advanceTimersByTime(100);
      expect(r.moved).toEqual(['ws://127.0.0.1:9303/uuid']);
      vi.advanceTimersByTime(1000);
      expect(r.moved).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('held by a process of another parent: the warning as before, and no move', () => {
    try {
      const r = replacing(process.ppid + 1);
      expect(r.lines.at(-1)).toMatchObject({ level: 40, msg: 'Inspector port 9303 (worker 1) is in use (held by pid 4242: tspuma worker 1); opened 127.0.0.1:40123 instead' });
      r.state.gone = true;
      vi.advanceTimersByTime(1000);
      expect(r.moved).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
