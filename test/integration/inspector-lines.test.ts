// Integration: what a user reads when the inspector opens, stdout and stderr in one file in the
// order they were written (as a terminal or a journal shows them): none of Node's own lines
// (the single process and the primary open no inspector port, workers start with
// --inspect-publish-uid=http), and tspuma's line naming each process's target.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, hermeticEnv, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

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
});

/** Boots tspuma with stdout and stderr on one file; returns that file's lines once it is up, then stops it. */
async function bootLines(args: string[], env: Record<string, string> = {}): Promise<string[]> {
  dir = tempDir('lines');
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

/**
 * The `-w 1` boot's lines, once for the two cases that read them (each states its own promise on
 * the same output): a cluster with an inspector is the file's dearest boot.
 */
let clusterLines: Promise<string[]> | null = null;
const bootClusterLines = () => (clusterLines ??= bootLines(['-w', '1']));

const msgOf = (line: string | undefined) => (line?.startsWith('{') ? String((JSON.parse(line) as { msg: unknown }).msg) : line);

const nodeLine = (l: string) => l.startsWith('Debugger listening') || l.startsWith('For help, see') || l.startsWith('Waiting for the debugger');

describe("the inspector's opening lines", () => {
  it("single mode: none of Node's lines; tspuma's line gives the server's target on discovery", async () => {
    const lines = await bootLines([]);
    expect(lines.filter(nodeLine)).toEqual([]);
    const discovery = lines.map(msgOf).find((m) => m?.startsWith('* Inspector discovery: '))!.match(/http:\/\/(127\.0\.0\.1:\d+)\/json\/list/)![1];
    expect(lines.map(msgOf).find((m) => m?.startsWith('* Inspector of the server'))).toBe(`* Inspector of the server (PID: ${lines.map(msgOf).find((m) => m?.startsWith('*          PID: '))!.slice('*          PID: '.length)}): ws://${discovery}/tspuma-single (through discovery: no inspector port of its own, no line of Node's)`);
  });

  it("-w 1: none of Node's lines, from the primary or the worker; the primary's target is on discovery, the worker's its own", async () => {
    const lines = await bootClusterLines();
    expect(lines.filter(nodeLine)).toEqual([]);
    const discovery = lines.map(msgOf).find((m) => m?.startsWith('* Inspector discovery: '))!.match(/http:\/\/(127\.0\.0\.1:\d+)\/json\/list/)![1];
    expect(lines.map(msgOf).find((m) => m?.startsWith('* Inspector of the primary'))).toMatch(new RegExp(`^\\* Inspector of the primary \\(PID: \\d+\\): ws://${discovery}/tspuma-primary \\(through discovery`));
    const worker = lines.map(msgOf).find((m) => m?.startsWith('* Inspector of worker 0'));
    expect(worker).toMatch(/^\* Inspector of worker 0 \(PID: \d+\): ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+$/);
  });

  it('-w 1: the worker\'s inspector line is JSON with each key once (its logger already names pid and worker)', async () => {
    const raw = (await bootClusterLines()).find((l) => l.includes('"msg":"* Inspector of worker 0'))!;
    expect(raw.match(/"pid":/g)).toHaveLength(1);
    expect(raw.match(/"worker":/g)).toHaveLength(1);
    expect(JSON.parse(raw)).toMatchObject({ worker: 0, inspector: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\//) });
  });
});
