// The module-hooks thread a .ts app's boot starts (server/ts-hooks.ts, Node 20's register()): a
// worker of its own, whose every loaded module each .ts boot pays. Its hooks read node's built-ins
// as their CommonJS exports: ES imports of node:fs, node:url and node:crypto built their
// namespaces, loading crypto's 16 modules and fs's streams (16 M instructions a boot).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const root = tempDir('hooks-thread');
writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
writeFileSync(join(root, 'app.ts'), 'const answer: number = 42;\nexport default answer;\n');

/** The hooks thread's loaded built-ins once it loaded app.ts, and the app's default export. */
function importThroughHooks(): { modules: string[]; value: string | undefined } {
  const child = spawnSync(process.execPath, [join(ROOT, 'test/fixtures/ts-hooks-thread/run.mjs'), join(root, 'app.ts'), join(root, 'cache')], { encoding: 'utf8', timeout: 30_000 });
  const line = child.stderr.split('\n').find((l) => l.startsWith('HOOKS-THREAD-MODULES '));
  expect(line, `stderr: ${child.stderr}`).toBeTruthy();
  return { modules: JSON.parse(line!.slice('HOOKS-THREAD-MODULES '.length)) as string[], value: /^VALUE (.*)$/m.exec(child.stdout)?.[1] };
}

describe('the TypeScript hooks thread', () => {
  it.runIf(typeof process.getBuiltinModule === 'function')('loads neither node:crypto nor fs streams at a boot from the compile cache', () => {
    // The first import compiles (esbuild's API, loaded on a miss only, takes crypto), the second is served by the cache.
    expect(importThroughHooks().value).toBe('42');
    const { modules, value } = importThroughHooks();
    expect(value).toBe('42');
    expect(modules.filter((m) => /^NativeModule (crypto|internal\/crypto\/|internal\/fs\/streams)/.test(m))).toEqual([]);
    // What the thread does load: its own ESM loader, and fs, which the hooks use.
    expect(modules).toContain('NativeModule internal/modules/esm/loader');
    expect(modules).toContain('NativeModule fs');
  });
});
