// Debug mode's filter of its own frames out of stack texts (diagnostics/app-stacks.ts): the app may
// still set and restore Error.prepareStackTrace, and the stack keeps the app's frame count.
import { afterEach, describe, expect, it } from 'vitest';
import { SPARE, installAppStacks, uninstallAppStacks } from '../../diagnostics/app-stacks.js';

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
