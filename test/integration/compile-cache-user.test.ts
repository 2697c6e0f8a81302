// Integration: a user who cannot write the project's node_modules (a server run as nobody from a
// tree root built) is told at boot that there is no compile cache and why, not that compiled files
// are cached there.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const root = tempDir('cache-user');
chmodSync(root, 0o755);
mkdirSync(join(root, 'node_modules'), { mode: 0o755 });
writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
writeFileSync(join(root, 'app.ts'), "export default (request: Request): Response => new Response('ok');\n");

describe('the compile cache at boot', () => {
  it.runIf(process.getuid?.() === 0)("as a user who cannot write node_modules: the TypeScript boot line says there is no compile cache and why", async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', 'app.ts'], {}, root, { unprivileged: true });
    const line = s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('*   TypeScript: '));
    expect(line?.msg).toContain(`no compile cache: ${join(root, 'node_modules')} is not writable by this user (EACCES), so every boot compiles`);
    expect(await (await fetch(s.url)).text()).toBe('ok');
  });

  it('as the user who owns it: compiled files cached in node_modules/.cache/tspuma', async () => {
    const s = await boot(['-b', 'tcp://127.0.0.1:0', 'app.ts'], {}, root);
    const line = s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('*   TypeScript: '));
    expect(line?.msg).toContain(`compiled files cached in ${join(root, 'node_modules', '.cache', 'tspuma')}`);
  });
});
