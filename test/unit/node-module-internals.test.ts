// ts-loader.ts's CommonJS TypeScript path relies on three undocumented members of node:module's
// CommonJS loader (node-http.ts's header names it as their one place): Module._extensions, whose
// per-extension compile hooks it wraps; Module._resolveFilename, which it retries with a .ts/.cts
// name for a require written for compiled output; and a module's _compile(code, file). Pinned here
// so a Node upgrade that changes one fails by name.
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

interface Internals {
  _extensions: Record<string, (module: { _compile(code: string, file: string): unknown; exports: unknown }, file: string) => unknown>;
  _resolveFilename: (request: string, parent: unknown, isMain: boolean) => string;
}
const Module = createRequire(import.meta.url)('node:module') as Internals;

describe("node:module's CommonJS internals ts-loader.ts uses", () => {
  it('Module._extensions holds a compile hook per extension, called with the module and its file, and module._compile(code, file) runs code as that module', () => {
    const dir = tempDir('module-internals');
    try {
      const file = join(dir, 'x.pinned');
      writeFileSync(file, 'not JavaScript');
      const seen: string[] = [];
      Module._extensions['.pinned'] = (module, f) => {
        seen.push(f);
        module._compile('module.exports = 42;', f);
      };
      expect(createRequire(join(dir, 'index.js'))(file)).toBe(42);
      expect(seen).toEqual([file]);
      expect(typeof Module._extensions['.js']).toBe('function');
    } finally {
      delete Module._extensions['.pinned'];
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Module._resolveFilename(request, parent, isMain) returns the file a require resolves to, and throws MODULE_NOT_FOUND otherwise', () => {
    const dir = tempDir('module-resolve');
    try {
      writeFileSync(join(dir, 'a.cjs'), '');
      const parent = { id: join(dir, 'index.js'), filename: join(dir, 'index.js'), paths: [] };
      expect(Module._resolveFilename('./a.cjs', parent, false)).toBe(join(dir, 'a.cjs'));
      expect(() => Module._resolveFilename('./missing.cjs', parent, false)).toThrow(expect.objectContaining({ code: 'MODULE_NOT_FOUND' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
