// Integration: the shell's working directory is not a secret. An app that builds a path from
// env.PWD (a config loader handed the environment) and fails on it gets a dump, a 500 log line
// and a boot error that name the file, though a secret-named variable holding the same directory
// is redacted by its name.
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, run } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const root = realpathSync(tempDir('envcfg'));
mkdirSync(join(root, 'src'));
writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
// The variables of process.env the test is about, first, as a shell's environment has them (a
// dump previews an object's first properties only, and the test runner's environment is long).
const SHELL_ENV = "const shellEnv = () => ({ PWD: process.env.PWD, OLDPWD: process.env.OLDPWD, APP_SECRET_DIR: process.env.APP_SECRET_DIR, HOME: process.env.HOME });";
writeFileSync(
  join(root, 'src/envcfg-app.ts'),
  [
    "import { readFileSync } from 'node:fs';",
    SHELL_ENV,
    'function loadSettings(env: NodeJS.ProcessEnv): { region: string } {',
    "  const file = `${env.PWD}/config/${env.APP_ENV ?? 'production'}.json`;",
    "  return JSON.parse(readFileSync(file, 'utf8'));",
    '}',
    'export default async function app(request: Request): Promise<Response> {',
    '  return Response.json(loadSettings(shellEnv()));',
    '}',
  ].join('\n'),
);
writeFileSync(
  join(root, 'src/boot-throw.ts'),
  [
    SHELL_ENV,
    'function readConfig(env: NodeJS.ProcessEnv): { port: number } {',
    '  const raw = env.MISSING_PORT_VAR;',
    '  if (!raw) throw new Error(`MISSING_PORT_VAR is not set (cwd ${env.PWD})`);',
    '  return { port: Number(raw) };',
    '}',
    'export const config = readConfig(shellEnv());',
    'export default (req: unknown, res: { end(): void }) => res.end();',
  ].join('\n'),
);

// The shell sets PWD and OLDPWD; a secret-named variable may hold the same directory.
const ENV = { PWD: root, OLDPWD: root, APP_SECRET_DIR: root };
const missing = join(root, 'config/production.json');

describe('PWD and OLDPWD are not secrets', () => {
  it('a -d dump of an ENOENT on a path built from env.PWD shows the path in the message, the error path, the locals and the request log line', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'src/envcfg-app.ts'], ENV, root);
    expect((await fetch(`${s.url}/`)).status).toBe(500);
    const dump = await waitFor(() => (s.stderr().includes('tspuma dump #1 [app]') && s.stderr().includes('frames') ? s.stderr() : undefined), 'the dump', 20_000);
    expect(dump).toContain(`tspuma dump #1 [app] Error: ENOENT: no such file or directory, open '${missing}'`);
    expect(dump).toContain(`path="${missing}"`);
    expect(dump).toContain(`file="${missing}"`);
    expect(dump).toContain(`env=Object {PWD: "${root}", OLDPWD: "${root}", APP_SECRET_DIR: "[redacted]"`);
    expect(dump).not.toContain('[redacted]/config');
    const line = await waitFor(() => s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('GET / failed')), 'the request failure line');
    expect(line.msg).toContain(missing);
  });

  it("a boot failure in a module handed the environment: the [boot] dump's headline names the app's path and the cwd", async () => {
    const s = run(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'src/boot-throw.ts'], ENV, root);
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain(`tspuma dump #1 [boot] TspumaError: Loading app ${join(root, 'src/boot-throw.ts')} failed: Error: MISSING_PORT_VAR is not set (cwd ${root})`);
    expect(s.stderr()).not.toContain('[redacted]/src');
  });
});
