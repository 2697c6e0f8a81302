// In-process tests of `tspuma ctl`'s argument and state-file errors (no server: each is refused
// before a request is sent).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ctl } from '../../server/cli/ctl.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('tspuma ctl -S', () => {
  it('says the state file has no control URL and how to get one, when the server was started without --control-url', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tspuma-ctl-'));
    dirs.push(dir);
    const file = path.join(dir, 'state.json');
    writeFileSync(file, JSON.stringify({ pid: 1, control_url: null, control_auth_token: null }));
    const refused = ctl(['stats', '-S', file]);
    await expect(refused).rejects.toMatchObject({ code: 'TSPUMA_ERR_CLI_USAGE' });
    await expect(refused).rejects.toThrow(`the state file ${file} has no control URL: start the server with --control-url`);
  });
});
