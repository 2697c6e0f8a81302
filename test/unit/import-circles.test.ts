// No import circles among tspuma's modules (server/, diagnostics/, inspector/), dynamic imports
// included, measured by dpdm on the TypeScript sources. Type-only imports are left out (-T): they
// are erased when compiled, so they cannot decide which module runs first. `npm run circles` prints
// the same list.
import { parseCircular, parseDependencyTree } from 'dpdm';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

it('no module of server/, diagnostics/ or inspector/ imports itself back, statically or through import()', async () => {
  const tree = await parseDependencyTree(['server/**/*.ts', 'diagnostics/**/*.ts', 'inspector/**/*.ts'], { context: ROOT, cwd: ROOT, transform: true, skipDynamicImports: false });
  expect(Object.keys(tree)).toContain('server/server.ts'); // the graph was read
  expect(parseCircular(tree).map((c) => c.join(' -> '))).toEqual([]);
}, 60_000);
