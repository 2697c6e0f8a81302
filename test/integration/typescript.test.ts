// Integration: a user's TypeScript project served by the built CLI, through esbuild by default
// and through tsx where asked, with imports written the NodeNext way and stacks on .ts lines.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { allBooted, boot, killAll, killAllBut, run, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The esbuild server of src/app.ts, shared by the esbuild case and the esbuild service case (its
 * /lazy route imports a module only when asked), booted when a case first asks: with no
 * node_modules above the project every boot compiles every file (a server of its own for the
 * service case was a boot more, 0.3-0.5 s of CPU).
 */
let esbuildServer: Promise<Booted> | undefined;
let esbuildBooted: Booted | undefined;
const sharedEsbuild = () => (esbuildServer ??= boot(['-b', 'tcp://127.0.0.1:0', 'src/app.ts'], {}, root).then((s) => (esbuildBooted = s)));
afterEach(() => killAllBut(esbuildBooted));
afterAll(killAll);

const root = tempDir('tsproject');

const FILES: Record<string, string> = {
  'package.json': '{ "name": "ts-project", "type": "module" }',
  'tsconfig.json': '{\n  // decorators the legacy way, as NestJS-style code needs\n  "compilerOptions": { "experimentalDecorators": true, "strict": true, },\n}\n',
  // TypeScript-only syntax: an enum, parameter properties, a legacy decorator, type imports.
  'src/greeter.ts': [
    "import type { IncomingMessage } from 'node:http';",
    'export enum Tone { Plain = "plain", Loud = "loud" }',
    'const seen: string[] = [];',
    'function logged(_t: object, key: string): void { seen.push(key); }',
    'export class Greeter {',
    '  constructor(private readonly tone: Tone) {}',
    '  @logged greet(req: IncomingMessage): string {',
    "    if (req.url === '/boom') throw new Error('greeter failed');",
    "    const text = `hello ${req.url}`;",
    '    return this.tone === Tone.Loud ? text.toUpperCase() : `${text} (${seen.join()})`;',
    '  }',
    '}',
  ].join('\n'),
  'src/util/index.ts': 'export const suffix = (s: string): string => `${s}\\n`;',
  'src/app.ts': [
    "import type { IncomingMessage, ServerResponse } from 'node:http';",
    "import { Greeter, Tone } from './greeter.js';",
    "import { suffix } from './util';",
    'const greeter = new Greeter(Tone.Plain);',
    'export default function app(req: IncomingMessage, res: ServerResponse): void {',
    "  // A module imported only when a request asks for it.",
    "  if (req.url === '/lazy') return void import('./lazy.js').then((m) => res.end(m.lazy()));",
    '  const body = suffix(greeter.greet(req));',
    "  res.writeHead(200, { 'content-type': 'text/plain' });",
    '  res.end(body);',
    '}',
  ].join('\n'),
  // What src/app.ts imports at its /lazy request only.
  'src/lazy.ts': "export const lazy = (): string => 'lazy' as string;",
};
/** The live esbuild processes `pid` started (esbuild's service: `esbuild --service --ping`). */
function esbuildChildren(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // After the command's ")": state [0], ppid [1].
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm === 'esbuild' && Number(ppid) === pid && state !== 'Z') found.push(Number(name));
    } catch {
      // gone between the listing and the read
    }
  }
  return found;
}
for (const [path, text] of Object.entries(FILES)) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('TypeScript projects', () => {
  for (const [loader, env] of [
    ['esbuild', {}],
    ['tsx', { TSPUMA_TS_LOADER: 'tsx' }],
  ] as const) {
    it(`serves an ES-module project through ${loader}, naming the loader at boot, with stacks on .ts lines`, async () => {
      const s = loader === 'esbuild' ? await sharedEsbuild() : await boot(['-b', 'tcp://127.0.0.1:0', 'src/app.ts'], env, root);
      const line = s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('*   TypeScript: '));
      expect(line?.tsLoader).toBe(loader);
      if (loader === 'tsx') expect(line?.msg).toContain('TSPUMA_TS_LOADER=tsx');
      else expect(line?.msg).toContain(join(root, 'tsconfig.json'));
      const ok = await fetch(`${s.url}/hi`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('hello /hi (greet)\n');
      const boom = await fetch(`${s.url}/boom`);
      expect(boom.status).toBe(500);
      expect(await boom.text()).toMatch(/greeter failed \(Error\)\n\s+at .*src\/greeter\.ts:8:\d+/);
    });
  }

  it('in cluster mode, the primary names the loader its workers use, once for all of them (T12.8)', async () => {
    const s = await boot(['-w', '2', '-b', 'tcp://127.0.0.1:0', 'src/app.ts'], {}, root);
    await allBooted(s);
    const lines = s.lines().filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('*   TypeScript'));
    expect(lines.map((l) => [l.msg, l.tsLoader, l.pid])).toEqual([[expect.stringMatching(/^\*   TypeScript: esbuild [\d.]+ \(/), 'esbuild', s.proc.pid]]);
    expect(lines[0]!.msg).toContain(join(root, 'tsconfig.json'));
  });

  it("stops esbuild's service process once the boot's compiles are over, and compiles a later import", async () => {
    // No node_modules above this project: no compile cache, so the boot compiles every file.
    const s = await sharedEsbuild();
    const line = s.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('*   TypeScript: '));
    expect(line?.msg).toContain('no node_modules to cache compiled files in');
    const pid = s.proc.pid!;
    await waitFor(() => esbuildChildren(pid).length === 0, 'no esbuild service process left after the boot', 15_000);
    const lazy = await fetch(`${s.url}/lazy`);
    expect(await lazy.text()).toBe('lazy');
    await waitFor(() => esbuildChildren(pid).length === 0, 'no esbuild service process left after the lazy import', 15_000);
    expect(await (await fetch(`${s.url}/hi`)).text()).toBe('hello /hi (greet)\n');
  });

  it('refuses an unknown TSPUMA_TS_LOADER with a coded error and exit 1', async () => {
    const s = run(['-b', 'tcp://127.0.0.1:0', 'src/app.ts'], { TSPUMA_TS_LOADER: 'swc' }, root);
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain('TSPUMA_ERR_OPTION_INVALID');
    expect(s.stderr()).toMatch(/TSPUMA_TS_LOADER.*environment.*one of auto, tsx.*"swc"/);
  });
});
