// Debug mode's filter of its own frames out of stack texts (diagnostics/app-stacks.ts): the app may
// still set and restore Error.prepareStackTrace, and the stack keeps the app's frame count.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SPARE, installAppStacks, uninstallAppStacks } from '../../diagnostics/app-stacks.js';
import { ROOT } from '../helpers/cli.js';

const nodeDefault = Error.prepareStackTrace;
afterEach(() => {
  uninstallAppStacks();
  Error.prepareStackTrace = nodeDefault;
});

function depth(n: number): Error {
  return n === 0 ? new Error('deep') : depth(n - 1);
}
const framesOf = (stack: string | undefined) => (stack ?? '').split('\n').filter((l) => l.startsWith('    at ')).length;

describe('app-stacks', () => {
  it("keeps the app's Error.stackTraceLimit frames in a stack text while it captures SPARE more, and gives the limit back", () => {
    const before = Error.stackTraceLimit;
    installAppStacks();
    expect(Error.stackTraceLimit).toBe(before + SPARE);
    expect(framesOf(depth(30).stack)).toBe(before);
    uninstallAppStacks();
    expect(Error.stackTraceLimit).toBe(before);
    expect(framesOf(depth(30).stack)).toBe(before);
  });

  it("gives an Error made under a request event's frame of ours (a body parser's listener) the same stack text as without -d, frame for frame", () => {
    // On the built dist/, as it ships: the filter knows its frames by their compiled files.
    const dist = (f: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist/diagnostics', f)).href);
    const script = [
      "import { IncomingMessage } from 'node:http';",
      "import { Socket } from 'node:net';",
      `const { installAppStacks } = await import(${dist('app-stacks.js')});`,
      `const { Attribution } = await import(${dist('attribution.js')});`,
      'const depth = (n) => (n === 0 ? new Error("deep") : depth(n - 1));',
      // our frame within the app's limit of 10, the stack deeper than it
      "const fire = (req) => { let stack = ''; req.once('data', () => (stack = depth(3).stack)); req.emit('data', 'x'); return stack; };",
      'const nest = (n, f) => (n === 0 ? f() : nest(n - 1, f));',
      'installAppStacks();',
      'let attribution = null;',
      // Both made from one line: only the frame of ours between differs.
      'const [plain, debug] = [false, true].map((withD) => { const req = new IncomingMessage(new Socket()); if (withD) { attribution = new Attribution(); attribution.leave(attribution.enter(req, null)); } return nest(8, () => fire(req)); });',
      'console.log(JSON.stringify({ plain, debug }));',
      'attribution.close();',
    ].join('\n');
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { plain: string; debug: string };
    expect(framesOf(out.plain)).toBe(10);
    expect(out.debug).not.toMatch(/diagnostics\//);
    expect(out.debug).toBe(out.plain);
  });

  it("gives node's own error for a callback that is not a function, thrown from under -d's nextTick and timer wrappers, the same stack text as without -d", () => {
    const dist = (f: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist/diagnostics', f)).href);
    const script = [
      `const { installAppStacks } = await import(${dist('app-stacks.js')});`,
      `const { CallContext } = await import(${dist('call-context.js')});`,
      'const nest = (n, f) => (n === 0 ? f() : nest(n - 1, f));',
      'const misuse = (f) => { try { f(5); } catch (err) { return err.stack; } return null; };',
      'installAppStacks();',
      'const context = new CallContext();',
      "const [plain, debug] = [false, true].map((withD) => { if (withD) context.enable(); return [process.nextTick, setTimeout, queueMicrotask].map((f) => nest(8, () => misuse(f))); });",
      'context.disable();',
      'console.log(JSON.stringify({ plain, debug }));',
    ].join('\n');
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { plain: string[]; debug: string[] };
    expect(out.plain.map(framesOf)).toEqual([10, 10, 10]);
    expect(out.debug).toEqual(out.plain);
  });

  it("lets the app set its own formatter and restore the one it read (the callsites pattern), and keeps the app's at uninstall", () => {
    installAppStacks();
    const saved = Error.prepareStackTrace;
    Error.prepareStackTrace = (_err, sites) => sites;
    const sites = new Error('x').stack as unknown as NodeJS.CallSite[];
    expect(Array.isArray(sites)).toBe(true);
    expect(sites[0]!.getFileName()).toMatch(/app-stacks\.test\.ts$/);
    Error.prepareStackTrace = saved;
    expect(new Error('plain').stack).toMatch(/^Error: plain\n {4}at /);
    const own = (err: Error) => `own: ${err.message}`;
    Error.prepareStackTrace = own;
    expect(new Error('y').stack).toBe('own: y');
    uninstallAppStacks();
    expect(Error.prepareStackTrace).toBe(own);
  });
});
