// Integration (finding Q12): a TypeScript app that installs a stack mapper of its own while loading
// (source-map-support/register sets Error.prepareStackTrace) gets a boot warning saying its stack
// texts now show compiled lines, and why Node's own source maps make the mapper unneeded.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boot, killAll } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';

afterAll(killAll);

const root = appFolder('stack-mapper', {
  // What source-map-support/register does at import, reduced to its effect on Error.
  'mapped.ts': `Error.prepareStackTrace = (err: Error, frames: NodeJS.CallSite[]): string =>
  \`\${err}\\n\${frames.map((f) => \`    at \${f.getFunctionName() ?? '<anonymous>'} (\${f.getFileName()}:\${f.getLineNumber()}:\${f.getColumnNumber()})\`).join('\\n')}\`;
export default function app(): Response {
  return new Response('ok');
}
`,
});

describe('a TypeScript app that sets Error.prepareStackTrace while loading', () => {
  it('gets a TSPUMA_ERR_APP_STACK_MAPPER warning at boot naming the file, and keeps serving', async () => {
    const file = join(root, 'mapped.ts');
    const s = await boot(['-b', 'tcp://127.0.0.1:0', file], {}, root);
    const warning = s.lines().find((l) => l.code === 'TSPUMA_ERR_APP_STACK_MAPPER');
    expect(warning?.level).toBe(40);
    expect(String(warning?.msg)).toContain(`TSPUMA_ERR_APP_STACK_MAPPER: The app ${file} set Error.prepareStackTrace while loading (source-map-support/register does)`);
    expect(String(warning?.msg)).toContain("Node's source maps, which tspuma turns on, map them already: remove that import");
    expect(await (await fetch(s.url)).text()).toBe('ok');
  });
});
