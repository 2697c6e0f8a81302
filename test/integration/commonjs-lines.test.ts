// A CommonJS .ts app (a package without "type": "module") keeps line-level debugging, as an
// ES-module app does: a DevTools breakpoint on a .ts line (set through the script's source map,
// as DevTools does) pauses there, every generated line of the module maps to one .ts line, and
// a CPU profile keeps its line ticks.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachThroughDiscovery } from '../helpers/devtools.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../inspector/profile-map.js';
import { boot, discoveryUrl, killAll, ROOT, run, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { burnWhile, expectAppFrames } from '../helpers/profile-fixture.js';
import { generatedFor, inlineMap } from '../helpers/source-maps.js';
import { tempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterAll(killAll);

/** The profile fixture as app.ts of a CommonJS package. */
function commonJsApp(): string {
  const dir = tempDir('cjs');
  dirs.push(dir);
  writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
  copyFileSync(join(ROOT, 'test/fixtures/profile/app.ts'), join(dir, 'app.ts'));
  return join(dir, 'app.ts');
}

/**
 * The CommonJS app under --inspect, booted by the first case that asks and kept for the next: the
 * breakpoint case removes its breakpoint and resumes, so the profile case finds it as booted.
 */
let served: Promise<{ file: string; s: Booted }> | undefined;
function commonJsServer(): Promise<{ file: string; s: Booted }> {
  served ??= (async () => {
    const file = commonJsApp();
    return { file, s: await boot(['--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', file]) };
  })();
  return served;
}

interface ScriptParsed {
  scriptId: string;
  url: string;
  sourceMapURL?: string;
}

describe('a CommonJS .ts app', () => {
  it('pauses at a breakpoint on a .ts line inside a loop, and every generated line of the module maps to one .ts line', async () => {
    const { file, s } = await commonJsServer();
    const source = readFileSync(file, 'utf8');
    const wanted = source.split('\n').findIndex((l) => l.includes('x = (x * 31 + i) % 1000003'));
    const { port } = new URL(await discoveryUrl(s));
    const client = await attachThroughDiscovery(`http://127.0.0.1:${port}`);
    try {
      const scripts: ScriptParsed[] = [];
      client.on('Debugger.scriptParsed', (p: ScriptParsed) => void scripts.push(p));
      await client.Debugger.enable({});
      const script = await waitFor(() => scripts.find((p) => p.url.startsWith('file:') && fileURLToPath(p.url) === file && p.sourceMapURL), 'app.ts parsed with its source map');
      const map = inlineMap(script.sourceMapURL)!;
      const { scriptSource } = await client.Debugger.getScriptSource({ scriptId: script.scriptId });
      // Line-level: the .ts file's statements are on lines of their own, not one generated line.
      const generated = scriptSource.split('\n');
      const loopLines = new Set(generated.map((_, l) => l).filter((l) => generated[l]!.includes('1000003')));
      expect(generated.length).toBeGreaterThan(source.split('\n').length / 2);
      expect([...loopLines].map((l) => (map.findEntry(l, generated[l]!.indexOf('1000003')) as { originalLine?: number }).originalLine)).toEqual([wanted]);
      const at = generatedFor(map, scriptSource, 'app.ts', wanted)!;
      const { breakpointId, locations } = await client.Debugger.setBreakpointByUrl({ url: script.url, lineNumber: at.lineNumber, columnNumber: at.columnNumber });
      expect(locations.length).toBeGreaterThan(0);
      const paused = new Promise<{ callFrames: { location: { lineNumber: number; columnNumber?: number } }[] }>((resolve) => client.on('Debugger.paused', resolve));
      const response = fetch(`${s.url}/burn`, { headers: { connection: 'close' } });
      const top = (await paused).callFrames[0]!;
      expect((map.findEntry(top.location.lineNumber, top.location.columnNumber ?? 0) as { originalLine: number }).originalLine).toBe(wanted);
      await client.Debugger.removeBreakpoint({ breakpointId });
      await client.Debugger.resume({});
      expect((await response).status).toBe(200);
    } finally {
      await client.close();
    }
  });

  // test/integration/inspect-profile.test.ts's case for a CommonJS package is this one (its frame
  // assertions are here): the same app and command, profiled once.
  it('keeps its line ticks in `tspuma inspect profile` (none dropped for app.ts), on the lines of burnCpu; its frames name lines app.ts has', async () => {
    const { file, s } = await commonJsServer();
    const discovery = await discoveryUrl(s);
    const out = join(dirs[0]!, 'p.cpuprofile');
    const profiler = run(['inspect', 'profile', '--seconds', '1', '--out', out, '--url', discovery]);
    expect(await burnWhile(s.url, profiler.exited)).toBeGreaterThan(0);
    expect(await profiler.exited, profiler.stderr()).toBe(0);
    expect(profiler.stderr()).toMatch(/call frames mapped to their source/);
    const ticks = expectAppFrames(JSON.parse(readFileSync(out, 'utf8')) as CpuProfile, file);
    expect(ticks.length, profiler.stderr()).toBeGreaterThan(0);
    // burnCpu spans lines 3-7 of the fixture: a sample may land on its entry (line 3) as well as its body.
    for (const t of ticks) expect([3, 4, 5, 6, 7]).toContain(t.line);
  });
});
