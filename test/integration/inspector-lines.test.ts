// Integration: what a user reads when the inspector opens, stdout and stderr in one file in the
// order they were written (as a terminal or a journal shows them): Node's own two lines for the
// single process and the primary, tspuma's line naming the same address right after them, and
// none of Node's lines for a worker or under NODE_OPTIONS=--inspect-publish-uid=http.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, hermeticEnv, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';

const APP = join(ROOT, 'examples/hello.ts');
let dir: string | null = null;
let pid: number | null = null;

afterEach(() => {
  if (pid !== null) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  pid = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Boots tspuma with stdout and stderr on one file; returns that file's lines once it is up, then stops it. */
async function bootLines(args: string[], env: Record<string, string> = {}): Promise<string[]> {
  dir = mkdtempSync(join(tmpdir(), 'tspuma-lines-'));
  const file = join(dir, 'out.log');
  const fd = openSync(file, 'w');
  const child = spawn(process.execPath, [CLI, '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', ...args, APP], { cwd: ROOT, env: { ...hermeticEnv(), ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  pid = child.pid!;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const read = () => readFileSync(file, 'utf8');
  await waitFor(() => read().includes('"msg":"Use Ctrl-C to stop"'), 'the boot line', 20_000);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  pid = null;
  return read().split('\n');
}

const msgOf = (line: string | undefined) => (line?.startsWith('{') ? String((JSON.parse(line) as { msg: unknown }).msg) : line);

describe("the inspector's opening lines", () => {
  it("single mode: Node's two lines, then at once tspuma's line with the same address, which says Node's line names it", async () => {
    const lines = await bootLines([]);
    const at = lines.findIndex((l) => l.startsWith('Debugger listening on ws://'));
    expect(at).toBeGreaterThanOrEqual(0);
    const ws = lines[at]!.slice('Debugger listening on '.length);
    expect(lines[at + 1]).toMatch(/^For help, see: https:\/\//);
    expect(msgOf(lines[at + 2])).toMatch(new RegExp(`^\\* Inspector of the server \\(PID: \\d+\\): ${ws} \\(Node's own "Debugger listening" line on stderr names the same address\\)$`));
    expect(lines.filter((l) => l.startsWith('Debugger listening')).length).toBe(1);
  });

  it("-w 1: the primary's line follows Node's two at once; the worker prints none of Node's lines and its own line does not mention them", async () => {
    const lines = await bootLines(['-w', '1']);
    const at = lines.findIndex((l) => l.startsWith('Debugger listening on ws://'));
    const ws = lines[at]!.slice('Debugger listening on '.length);
    expect(lines[at + 1]).toMatch(/^For help, see: /);
    expect(msgOf(lines[at + 2])).toMatch(new RegExp(`^\\* Inspector of the primary \\(PID: \\d+\\): ${ws} \\(Node's own`));
    expect(lines.filter((l) => l.startsWith('Debugger listening')).length).toBe(1);
    const worker = lines.map(msgOf).find((m) => m?.startsWith('* Inspector of worker 0'));
    expect(worker).toMatch(/^\* Inspector of worker 0 \(PID: \d+\): ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+$/);
  });

  it("NODE_OPTIONS=--inspect-publish-uid=http: none of Node's lines, and tspuma's line does not point at them", async () => {
    const lines = await bootLines([], { NODE_OPTIONS: '--inspect-publish-uid=http' });
    expect(lines.some((l) => l.startsWith('Debugger listening') || l.startsWith('For help, see'))).toBe(false);
    expect(lines.map(msgOf).find((m) => m?.startsWith('* Inspector of the server'))).toMatch(/^\* Inspector of the server \(PID: \d+\): ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+$/);
  });
});
