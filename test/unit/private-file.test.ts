// Files tspuma writes where another user may also write (state file, pidfile, dumps, heap
// snapshots): never through a symlink, never into a file someone else created, whole or not at all.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { codeOf } from '../helpers/codes.js';
import { isTspumaError } from '../../server/errors.js';
import { writeFileSafely, writePrivateFile } from '../../server/private-file.js';
import { tempDir } from '../helpers/temp.js';

const scratch = () => tempDir('private');

describe('private files', () => {
  it('refuses a target that is a symlink (TSPUMA_ERR_FILE_UNSAFE naming it) and leaves the file it points to untouched', () => {
    const dir = scratch();
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    symlinkSync(victim, join(dir, 'state'));
    let message = '';
    try {
      writePrivateFile(join(dir, 'state'), '{"control_auth_token":"secret"}\n', 'state file (-S)');
    } catch (err) {
      message = (err as Error).message;
      expect(isTspumaError(err, 'TSPUMA_ERR_FILE_UNSAFE')).toBe(true);
    }
    expect(message).toContain(join(dir, 'state'));
    expect(message).toContain('symbolic link');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(lstatSync(join(dir, 'state')).isSymbolicLink()).toBe(true);
  });

  it('refuses a pidfile path that is a symlink', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'victim'), 'x');
    symlinkSync(join(dir, 'victim'), join(dir, 'tspuma.pid'));
    expect(codeOf(() => writeFileSafely(join(dir, 'tspuma.pid'), '123\n', { what: 'pidfile', mode: 0o644 }))).toBe('TSPUMA_ERR_FILE_UNSAFE');
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('x');
  });

  it('refuses a file another user created (mode 0666), so its owner never reads the token', () => {
    const dir = scratch();
    const state = join(dir, 'state');
    writeFileSync(state, '');
    chmodSync(state, 0o666);
    const owner = statSync(state).uid;
    // As if this process ran as another user than the file's owner.
    expect(codeOf(() => writeFileSafely(state, 'token', { what: 'state file (-S)', uid: owner + 1 }))).toBe('TSPUMA_ERR_FILE_UNSAFE');
    expect(readFileSync(state, 'utf8')).toBe('');
  });

  it('replaces a file of its own with a new 0600 file and leaves no temporary file behind', () => {
    const dir = scratch();
    const state = join(dir, 'state');
    writeFileSync(state, 'old', { mode: 0o644 });
    writePrivateFile(state, 'new');
    expect(readFileSync(state, 'utf8')).toBe('new');
    expect(statSync(state).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state']);
  });

  it('does not follow a symlink planted at a predictable temporary name', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'victim'), 'precious');
    // Old code wrote `${file}.${pid}.tmp` (inspector state updates): plant that name.
    symlinkSync(join(dir, 'victim'), join(dir, `state.${process.pid}.tmp`));
    writePrivateFile(join(dir, 'state'), 'mine');
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('precious');
    expect(readFileSync(join(dir, 'state'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, 'state'))).toBe(true);
  });

  it('a state file update that cannot be written (EFBIG under `ulimit -f 1`) keeps the previous file whole, and its message says so instead of "Nothing was left at that path"', () => {
    const dir = scratch();
    const state = join(dir, 'state');
    writePrivateFile(state, '{"pid":1}\n');
    // A real failed write: a child whose file size limit is 1 KiB (node ignores SIGXFSZ, so write() fails).
    const script = `import('${ROOT}dist/server/private-file.js').then((m) => { try { m.updatePrivateJson(${JSON.stringify(state)}, { inspectors: 'x'.repeat(4096) }, 'state file'); } catch (e) { process.stdout.write(e.code + ' ' + e.message); } })`;
    const out = execFileSync('bash', ['-c', 'ulimit -f 1 && exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    expect(out).toMatch(new RegExp(`^TSPUMA_ERR_FILE_WRITE Cannot write the state file ${state} \\(EFBIG\\): file too large, write\\. `));
    expect(out).not.toContain('Nothing was left');
    expect(out).toContain('the path is as it was before the write (its previous file, or none)');
    expect(readFileSync(state, 'utf8')).toBe('{"pid":1}\n');
    expect(readdirSync(dir)).toEqual(['state']);
  });
});
