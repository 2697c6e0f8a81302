// Sinks in-process: a repeated failure site is folded into its first dump, but every hang (one
// worker killed each time) gets its own files.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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

describe('GitHub Actions', () => {
  const github = (workspace: string, summary: string | null) => ({ workspace, summary, cwd: join(workspace, 'services/web'), serverUrl: 'https://github.com', repository: 'acme/shop', runId: '99', sha: 'abc123' });

  it("annotates the culprit with its path relative to GITHUB_WORKSPACE (a monorepo's package), so it lands on the PR diff", () => {
    const out: string[] = [];
    const sinks = new Sinks({ dir: null, maxFiles: 50, githubActions: true, github: github('/home/runner/work/shop/shop', null), colour: false, write: (t) => out.push(t) });
    sinks.emit(dump('exception', 'src/app.ts:10'));
    expect(out.find((t) => t.startsWith('::error '))).toMatch(/^::error file=services\/web\/src\/app\.ts,line=10,col=5,title=tspuma dump #\d+ \[app\]::Error: at src\/app\.ts:10\n$/);
  });

  it('appends one Markdown section per new site to GITHUB_STEP_SUMMARY: the failure, the culprit line linked at the commit, the dump file and where the artifacts are', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-summary-'));
    const workspace = join(dir, 'ws');
    const summary = join(dir, 'summary.md');
    writeFileSync(summary, '# earlier step output\n');
    const dumps = join(workspace, 'services/web/dumps');
    const sinks = new Sinks({ dir: dumps, maxFiles: 50, githubActions: true, github: github(workspace, summary), colour: false, write: () => {} });
    const first = sinks.emit(dump('exception', 'src/app.ts:10'));
    sinks.emit(dump('exception', 'src/app.ts:10'));
    sinks.emit(dump('exception', 'src/db.ts:10', 'TypeError'));
    const text = readFileSync(summary, 'utf8');
    expect(text.startsWith('# earlier step output\n')).toBe(true);
    const sections = text.split('\n### ').slice(1);
    expect(sections).toHaveLength(2);
    expect(sections[0]).toMatch(/^tspuma dump #\d+ \[app\] Error: at src\/app\.ts:10\n/);
    expect(sections[0]).toContain('[services/web/src/app.ts:10](https://github.com/acme/shop/blob/abc123/services/web/src/app.ts#L10) in `app`');
    expect(sections[0]).toContain(`\`services/web/dumps/${basename(first.path!)}\``);
    expect(sections[0]).toContain('https://github.com/acme/shop/actions/runs/99#artifacts');
    expect(sections[1]).toMatch(/^tspuma dump #\d+ \[app\] TypeError: at src\/db\.ts:10\n/);
  });

  it('escapes Markdown and HTML in the error message, so an app error cannot inject links or markup into the summary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tspuma-summary-'));
    const summary = join(dir, 'summary.md');
    const sinks = new Sinks({ dir: null, maxFiles: 50, githubActions: true, github: github(dir, summary), colour: false, write: () => {} });
    const d = dump('exception', 'src/x.ts:10');
    d.error.message = 'bad <img src=x onerror=alert(1)> [click](https://evil.example)\n# heading';
    sinks.emit(d);
    const text = readFileSync(summary, 'utf8');
    expect(text).not.toContain('<img');
    expect(text).toContain('\\[click\\](https://evil.example)');
    expect(text).not.toMatch(/(?<!\\)\[click/);
    expect(text.split('\n').filter((l) => l.startsWith('# '))).toEqual([]);
  });
});
