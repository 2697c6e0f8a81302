// A dump folder that fails mid-write (ENOSPC, EROFS) is left with no partial file and no claim:
// the failed dump costs none of the folder's budget.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { tempDir } from '../helpers/temp.js';

/** writeSync/writeFileSync write half of what they are given, then fail as a full disk does. */
const full = { on: false };
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  const writeSync = ((fd: number, data: Uint8Array | string, ...rest: unknown[]) => {
    if (!full.on) return (fs.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    fs.writeSync(fd, bytes.subarray(0, Math.floor(bytes.length / 2)));
    throw enospc();
  }) as typeof fs.writeSync;
  const writeFileSync = ((file: unknown, data: string | Uint8Array, ...rest: unknown[]) => {
    if (!full.on || typeof file !== 'number') return (fs.writeFileSync as (...a: unknown[]) => void)(file, data, ...rest);
    writeSync(file, data as Uint8Array);
  }) as typeof fs.writeFileSync;
  return { ...fs, default: { ...fs, writeSync, writeFileSync }, writeSync, writeFileSync };
});

const { Sinks } = await import('../../diagnostics/sinks.js');

afterEach(() => {
  full.on = false;
});

describe('dump files on a full disk', () => {
  it('leaves no partial or temporary file and no site claim, and says why on stderr', () => {
    const dir = tempDir('enospc');
    const out: string[] = [];
    const sinks = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out.push(t), run: `${process.pid}-test` });
    full.on = true;
    const result = sinks.emit(fixtureDump('exception', 'app.ts:10'));
    full.on = false;
    expect(result.path).toBeNull();
    expect(readdirSync(dir).filter((n) => n !== '.tspuma-sites')).toEqual([]);
    expect(readdirSync(join(dir, '.tspuma-sites'))).toEqual([]);
    expect(out.join('')).toMatch(/ENOSPC/);
    // The disk has room again: the next site's dump is written whole.
    const next = sinks.emit(fixtureDump('exception', 'app.ts:20'));
    expect(next.path).not.toBeNull();
    expect(readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.txt'))).toHaveLength(2);
  });
});
