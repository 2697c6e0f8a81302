// A pidfile or state file naming another running tspuma is not taken over; a stale one is; a
// server removes such a file at its stop only while it still names it.
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../helpers/codes.js';
import { pidIn, refuseIfTaken, removeIfOwn, type ProcessProbe } from '../../server/own-files.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('own');
const probe = (alive: boolean, command: string | null): ProcessProbe => ({ alive: () => alive, commandLine: () => command });

describe('own files', () => {
  it('reads the pid of a pidfile and of a state file', () => {
    expect(pidIn('4321\n')).toBe(4321);
    expect(pidIn('{"pid": 77, "control_url": null}')).toBe(77);
    expect(pidIn('garbage')).toBeNull();
  });

  it('refuses a file naming another running tspuma, naming the path, where it came from and the pid', () => {
    const file = join(dir, 'a.state');
    writeFileSync(file, JSON.stringify({ pid: 999_999 }));
    let message = '';
    try {
      refuseIfTaken(file, 'state file', '-S', probe(true, '/usr/bin/node /srv/node_modules/tspuma/dist/server/cli.js -S a.state app.ts'));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(`The state file ${file} (-S) names a tspuma that is running (PID 999999): give this server a path of its own, or stop that one first.`);
  });

  it('writes over a file whose server is gone, or whose pid now belongs to another program', () => {
    const file = join(dir, 'b.pid');
    writeFileSync(file, '999999\n');
    expect(codeOf(() => refuseIfTaken(file, 'pidfile', '--pidfile', probe(false, null)))).toBeNull();
    expect(codeOf(() => refuseIfTaken(file, 'pidfile', '--pidfile', probe(true, '/usr/sbin/nginx -g daemon off;')))).toBeNull();
    expect(codeOf(() => refuseIfTaken(file, 'pidfile', '--pidfile', probe(true, 'node tspuma app.ts')))).toBe('TSPUMA_ERR_FILE_IN_USE');
    writeFileSync(file, `${process.pid}\n`);
    expect(codeOf(() => refuseIfTaken(file, 'pidfile', '--pidfile', probe(true, 'node tspuma app.ts')))).toBeNull();
  });

  it('removes a file at the stop only while it names this process', () => {
    const mine = join(dir, 'mine.pid');
    const theirs = join(dir, 'theirs.pid');
    writeFileSync(mine, `${process.pid}\n`);
    writeFileSync(theirs, '999999\n');
    removeIfOwn(mine);
    removeIfOwn(theirs);
    expect(existsSync(mine)).toBe(false);
    expect(readFileSync(theirs, 'utf8')).toBe('999999\n');
  });
});
