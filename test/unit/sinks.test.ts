// Sinks in-process: a repeated failure site is folded into its first dump, but every hang (one
// worker killed each time) gets its own files.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Sinks } from '../../diagnostics/sinks.js';
import { fixtureDump } from '../helpers/dump-fixture.js';

const dump = fixtureDump;

describe('sinks', () => {
  it('folds a repeated app failure site into its first dump, but never folds a hang: each hang has its own files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-sinks-'));
    const out: string[] = [];
    const sinks = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out.push(t) });
    const first = sinks.emit(dump('exception', 'app.ts:10'));
    const again = sinks.emit(dump('exception', 'app.ts:10'));
    expect(first.repeat).toBe(false);
    expect(again).toEqual({ repeat: true, path: first.path });
    const hang1 = sinks.emit(dump('hang', 'app.ts:10'));
    const hang2 = sinks.emit(dump('hang', 'app.ts:10'));
    // Same site as the exception and as each other: still not repeats, each its own path.
    expect(hang1.repeat).toBe(false);
    expect(hang2.repeat).toBe(false);
    expect(new Set([first.path, hang1.path, hang2.path]).size).toBe(3);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(3);
    expect(out.filter((t) => t.startsWith('tspuma dump #'))).toHaveLength(3);
  });
});
