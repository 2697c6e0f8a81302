// Integration: a user's TypeScript project served by the built CLI, through esbuild by default
// and through tsx where asked, with imports written the NodeNext way and stacks on .ts lines.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { allBooted, boot, killAll, run } from '../helpers/cli.js';

afterEach(killAll);

const root = mkdtempSync(join(tmpdir(), 'tspuma-tsproject-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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
    '  const body = suffix(greeter.greet(req));',
    "  res.writeHead(200, { 'content-type': 'text/plain' });",
    '  res.end(body);',
    '}',
  ].join('\n'),
};
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
      const s = await boot(['-b', 'tcp://127.0.0.1:0', 'src/app.ts'], env, root);
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

  it('refuses an unknown TSPUMA_TS_LOADER with a coded error and exit 1', async () => {
    const s = run(['-b', 'tcp://127.0.0.1:0', 'src/app.ts'], { TSPUMA_TS_LOADER: 'swc' }, root);
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain('TSPUMA_ERR_OPTION_INVALID');
    expect(s.stderr()).toMatch(/TSPUMA_TS_LOADER.*environment.*one of auto, tsx.*"swc"/);
  });
});
