// Integration: what a -d cluster leaves in its dump folder once it has stopped gracefully. Its
// workers claim each failure site in the folder's .tspuma-sites (one dump per site for the whole
// cluster, dump-budget.ts); the claims are the running cluster's, so a clean stop takes them away
// with its other files (state file, pidfile), as a SIGKILLed primary's are swept at the next boot.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appFolder } from '../helpers/app-folder.js';
import { boot, killAll } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const root = appFolder('claims', { 'app.mjs': "export default function app() { throw new TypeError('no orders today'); }\n" });

describe('a -d cluster stopped gracefully (SIGTERM)', () => {
  it('leaves its dumps in the dump folder and none of its site claims', async () => {
    const dumps = tempDir('claims-dumps');
    const s = await boot(['-w', '1', '-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'app.mjs'], { TSPUMA_DUMP_DIR: dumps }, root);
    expect((await fetch(s.url)).status).toBe(500);
    await waitFor(() => readdirSync(dumps).some((n) => n.endsWith('.json')), 'the dump file');
    const claims = join(dumps, '.tspuma-sites');
    expect(readdirSync(claims)).toHaveLength(1); // the site's claim, while the cluster runs
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(readdirSync(dumps).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    expect(existsSync(claims) ? readdirSync(claims) : []).toEqual([]);
  });
});
