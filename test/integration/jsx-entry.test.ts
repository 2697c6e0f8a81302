// Integration: a Hono JSX app whose entry is src/index.tsx (as Hono's templates write it) is
// served with either TypeScript loader, its JSX compiled by the tsconfig's jsxImportSource.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

const root = tempDir('jsx');
mkdirSync(join(root, 'src'));
writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
writeFileSync(join(root, 'tsconfig.json'), '{ "compilerOptions": { "jsx": "react-jsx", "jsxImportSource": "hono/jsx", "strict": true } }');
writeFileSync(
  join(root, 'src/index.tsx'),
  ["import { Hono } from 'hono';", 'const app = new Hono();', "app.get('/', (c) => c.html(<p class=\"greeting\">hello {c.req.query('name')}</p>));", 'export default app;'].join('\n'),
);
symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));

describe('a .tsx app entry', () => {
  for (const [loader, env] of [['auto', {}], ['tsx', { TSPUMA_TS_LOADER: 'tsx' }]] as const) {
    it(`src/index.tsx (loader ${loader}) renders its JSX`, async () => {
      const s = await boot(['-b', 'tcp://127.0.0.1:0', 'src/index.tsx'], env, root);
      const r = await fetch(`${s.url}/?name=ann`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('<p class="greeting">hello ann</p>');
    });
  }
});
