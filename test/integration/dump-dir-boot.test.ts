// Integration: a dump folder tspuma cannot create or write (CI=true's ./tspuma-dumps in a folder
// the user cannot write, TSPUMA_DUMP_DIR under a regular file) is found at boot: the server
// starts with one coded warning naming the folder and where it came from, and dumps go to stderr.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allBooted, boot, killAll } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';
import { waitFor } from '../helpers/net.js';

afterEach(killAll);

// Plain JavaScript: the dump folder is the point, not TypeScript loading (four -d processes load it).
const root = appFolder('dumpdir', {
  'app.mjs': [
    'export default function app(request) {',
    "  const limit = new URL(request.url).searchParams.get('limit');",
    "  if (limit !== null) throw new TypeError(`limit must be an integer, got ${limit}`);",
    "  return new Response('ok');",
    '}',
    '',
  ].join('\n'),
  'a-file': 'not a folder\n',
});

const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('tspuma: TSPUMA_ERR_DUMP_DIR: '));

describe('a dump folder that cannot be used at boot', () => {
  it.runIf(process.getuid?.() === 0)('CI=true in a folder the user cannot write: the server starts with a TSPUMA_ERR_DUMP_DIR warning naming ./tspuma-dumps and CI=true, and a failure is dumped on stderr', async () => {
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', 'app.mjs'], { CI: 'true' }, root, { unprivileged: true });
    expect(warnings(s.stderr())).toEqual([
      `tspuma: TSPUMA_ERR_DUMP_DIR: The dump folder ${join(root, 'tspuma-dumps')} (CI=true: the default ./tspuma-dumps) cannot be used: this user cannot create it (EACCES). Dumps go to stderr only in this run; run from a folder this user can write, or set TSPUMA_DUMP_DIR to one.`,
    ]);
    expect((await fetch(`${s.url}/?limit=abc`)).status).toBe(500);
    await waitFor(() => s.stderr().includes('tspuma dump #1 [app] TypeError: limit must be an integer, got abc'), 'the dump on stderr');
    expect(s.stderr()).not.toContain('written to');
    expect(await (await fetch(s.url)).text()).toBe('ok');
  });

  it('TSPUMA_DUMP_DIR below a regular file, -w 2: the cluster starts and the warning (ENOTDIR, naming the variable) is written once, not once per worker', async () => {
    const dir = join(root, 'a-file', 'dumps');
    const s = await boot(['-d', '--inspect=off', '-w', '2', '-b', 'tcp://127.0.0.1:0', 'app.mjs'], { TSPUMA_DUMP_DIR: dir }, root);
    await allBooted(s);
    expect(warnings(s.stderr())).toEqual([
      `tspuma: TSPUMA_ERR_DUMP_DIR: The dump folder ${dir} (TSPUMA_DUMP_DIR in environment) cannot be used: a file stands where a folder of its path should be (ENOTDIR). Dumps go to stderr only in this run; point TSPUMA_DUMP_DIR at a folder this user can write.`,
    ]);
    expect(await (await fetch(s.url)).text()).toBe('ok');
  });

  // A folder that can be created is, and the boot says nothing about it: secrets.test's first case
  // (a dump folder created 0700 with its parents), on a -d server it boots anyway.
});
