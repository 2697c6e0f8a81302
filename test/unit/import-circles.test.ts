// No import circles among tspuma's modules (server/, diagnostics/, inspector/), dynamic imports
// and type-only imports included, measured by dpdm on the TypeScript sources. A type-only circle
// cannot decide which module runs first (it is erased when compiled), but it ties two modules
// together all the same: the types they share live in a module of their own (call-record.ts,
// debug-hook-types.ts). `npm run circles` prints the same list.
import { parseCircular, parseDependencyTree } from 'dpdm';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SLOWNESS } from '../helpers/net.js';

it('no module of server/, diagnostics/ or inspector/ imports itself back, statically, through import() or for its types', async () => {
  const tree = await parseDependencyTree(['server/**/*.ts', 'diagnostics/**/*.ts', 'inspector/**/*.ts'], { context: ROOT, cwd: ROOT, transform: false, skipDynamicImports: false });
  expect(Object.keys(tree)).toContain('server/server.ts'); // the graph was read
  expect(parseCircular(tree).map((c) => c.join(' -> '))).toEqual([]);
}, 60_000 * SLOWNESS);
