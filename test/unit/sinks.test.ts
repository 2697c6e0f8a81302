// Sinks in-process: a repeated failure site is folded into its first dump, but every hang (one
// worker killed each time) gets its own files.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Sinks } from '../../diagnostics/sinks.js';
import { dumpRecorder, enableDiagnostics } from '../../diagnostics/index.js';
import type { Logger } from 'pino';
import { claimSite, runClaimsFolder } from '../../diagnostics/dump-budget.js';
import { autopsyLine, pauseTimeoutHint } from '../../inspector/autopsy.js';
import type { Dump } from '../../diagnostics/model.js';
import type { DumpDelivery } from '../../diagnostics/dump-delivery.js';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { tempDir } from '../helpers/temp.js';

const dump = fixtureDump;

describe('sinks', () => {
  it('folds a repeated app failure site into its first dump, but never folds a hang: each hang has its own files', () => {
    const dir = tempDir('sinks');
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

describe('sinks: repeat counts', () => {
  it('name the worker counting and the dump file, and a site another worker dumped by its place, not by a number never shown here (S11.12)', () => {
    const dir = tempDir('sinks-repeats');
    const out1: string[] = [];
    const out2: string[] = [];
    const w1 = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out1.push(t), run: 'run-1', who: 'worker 1 (PID 101)' });
    const w2 = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out2.push(t), run: 'run-1', who: 'worker 2 (PID 102)' });
    const first = w1.emit(dump('exception', 'app.ts:10'));
    expect(w2.emit(dump('exception', 'app.ts:10'))).toEqual({ repeat: true, path: first.path, elsewhere: true });
    const error = { name: 'Error', message: 'boom\nforged line' };
    for (let i = 0; i < 9; i++) w1.repeat('app.ts:10', error);
    for (let i = 0; i < 9; i++) w2.repeat('app.ts:10', error);
    expect(out1.filter((t) => t.includes('has happened'))).toEqual([`tspuma: the failure of dump #${JSON.parse(readFileSync(first.path!, 'utf8')).id} (Error: boom\\nforged line) has happened 10 times in worker 1 (PID 101); its dump: ${first.path}\n`]);
    expect(out2.filter((t) => t.includes('has happened'))).toEqual([`tspuma: the failure of the dump of another worker, at app.ts:10 (Error: boom\\nforged line) has happened 10 times in worker 2 (PID 102); its dump: ${first.path}\n`]);
  });
});

describe('sinks: the text of the log record and of onDump', () => {
  /** A dump with a framework's frame below the app's: shown on one line, its values in the .json file. */
  const withLibraryFrame = (site: string): Dump => {
    const d = dump('exception', site);
    d.frames.push({ function: 'Layer.handle', file: 'node_modules/router/lib/layer.js', line: 169, column: 33, receiver: 'Layer', locals: { req: { summary: 'IncomingMessage' } }, library: true } as Dump['frames'][number]);
    return d;
  };
  const hint = (text: string) => text.split('\n').filter((l) => l.includes('shown without their values'));

  it("says where the one-line frames' values are as stderr does: no file without a dump folder, the .json file's path with one (review9.7)", () => {
    const texts: { stderr: string[]; record: string[]; delivered: string[] } = { stderr: [], record: [], delivered: [] };
    const delivery = { deliver: (_d: Dump, { text }: { text: string }) => void texts.delivered.push(text) } as unknown as DumpDelivery;
    const none = new Sinks({ dir: null, maxFiles: 50, githubActions: false, colour: false, write: (t) => texts.stderr.push(t), delivery });
    none.recordTo((_d, _path, text) => texts.record.push(text()));
    none.emit(withLibraryFrame('app.ts:10'));
    const noFile = '  (1 frame(s) of router shown without their values: no dump file was written; with a dump folder (TSPUMA_DUMP_DIR or dumpDir) its .json file keeps them)';
    expect(hint(texts.stderr[0]!)).toEqual([noFile]);
    expect(hint(texts.record[0]!)).toEqual([noFile]);
    expect(hint(texts.delivered[0]!)).toEqual([noFile]);

    const dir = tempDir('sinks-record');
    const record: string[] = [];
    const written = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: () => undefined });
    written.recordTo((_d, _path, text) => record.push(text()));
    const { path } = written.emit(withLibraryFrame('app.ts:20'));
    expect(hint(record[0]!)).toEqual([`  (1 frame(s) of router shown without their values: ${path} has them; \`tspuma dump --all-frames ${path}\` prints them)`]);
    // The .txt file stands beside the .json: it says so.
    expect(hint(readFileSync(path!.replace(/\.json$/, '.txt'), 'utf8'))).toEqual(['  (1 frame(s) of router shown without their values: the .json file beside this one has them; `tspuma dump --all-frames FILE.json` prints them)']);
  });
});

describe('sinks: the failure that ends a process (final)', () => {
  it('gets its own files where this process dumped its site before, but stays a repeat of a site another worker of the run dumped (a crash loop writes one dump, not one a respawn) (review9.4)', () => {
    const dir = tempDir('sinks-final');
    const quiet = { maxFiles: 50, githubActions: false, colour: false, write: () => undefined, run: 'run-9' };
    const w1 = new Sinks({ dir, ...quiet, who: 'worker 1 (PID 101)' });
    const first = w1.emit(dump('exception', 'jobs.ts:8')); // a request's 500
    // A respawned worker's crash at that site, as every replacement in a crash loop makes it.
    const w2 = new Sinks({ dir, ...quiet, who: 'worker 2 (PID 102)' });
    expect(w2.emit(dump('exception', 'jobs.ts:8'), true)).toEqual({ repeat: true, path: first.path, elsewhere: true });
    // The worker that dumped the 500 crashes there by another path: that crash is dumped too.
    const crash = w1.emit(dump('exception', 'jobs.ts:8'), true);
    expect(crash.repeat).toBe(false);
    expect(new Set([first.path, crash.path]).size).toBe(2);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });
});

describe('sinks: a site another worker of the run dumped without values', () => {
  it("is dumped again, with values, by the first worker whose throw there is captured; the others' (the first worker's own included) are that dump's repeats (stormrev Left)", () => {
    const dir = tempDir('sinks-valueless');
    const quiet = { maxFiles: 50, githubActions: false, colour: false, write: () => undefined, run: 'run-7' };
    const w0 = new Sinks({ dir, ...quiet, who: 'worker 0 (PID 101)' });
    const w1 = new Sinks({ dir, ...quiet, who: 'worker 1 (PID 102)' });
    // Worker 0 dumped the failure during an error-storm back-off: no values, its next throw pauses.
    const first = w0.emit({ ...dump('exception', 'quota.ts:12'), captured: false }, false, false, true);
    expect(first.repeat).toBe(false);
    // The next throw there lands in worker 1 and is captured: dumped, not dropped as a repeat of worker 0's.
    const second = w1.emit(dump('exception', 'quota.ts:12'));
    expect(second.repeat).toBe(false);
    expect(second.path).not.toBe(first.path);
    expect(JSON.parse(readFileSync(second.path!, 'utf8')).note).toBe(`another worker dumped this failure first, without values (${first.path}); this is a later throw of it, paused at and captured in this worker`);
    // Worker 0's own next capture there (index.ts's \`again\`) and a third worker's are repeats of worker 1's dump.
    expect(w0.emit(dump('exception', 'quota.ts:12'), false, true)).toEqual({ repeat: true, path: second.path, elsewhere: true });
    const w2 = new Sinks({ dir, ...quiet, who: 'worker 2 (PID 103)' });
    expect(w2.emit(dump('exception', 'quota.ts:12'))).toEqual({ repeat: true, path: second.path, elsewhere: true });
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });
});

describe('sinks: a cluster without a dump folder', () => {
  it("claims sites in the primary's own folder (SITE_CLAIMS_ENV): a site another worker of the run printed is a repeat, with no path (review9.5)", () => {
    const claims = runClaimsFolder()!;
    try {
      const out: string[] = [];
      const quiet = { dir: null, maxFiles: 50, githubActions: false, colour: false, write: (t: string) => out.push(t), run: 'run-5', claims: claims.dir };
      const w1 = new Sinks({ ...quiet, who: 'worker 0 (PID 101)' });
      expect(w1.emit(dump('exception', 'jobs.ts:8'), true)).toEqual({ repeat: false, path: null, problem: 'no dump folder (TSPUMA_DUMP_DIR or dumpDir)' });
      // Its respawn crashes at the same site: folded, not printed again.
      const w2 = new Sinks({ ...quiet, who: 'worker 0 (PID 102)' });
      expect(w2.emit(dump('exception', 'jobs.ts:8'), true)).toEqual({ repeat: true, path: null, elsewhere: true });
      // Another phase (a deploy) prints it again.
      expect(new Sinks({ ...quiet, run: 'run-5-phase1' }).emit(dump('exception', 'jobs.ts:8')).repeat).toBe(false);
      expect(out.filter((t) => t.startsWith('tspuma dump #'))).toHaveLength(2);
    } finally {
      claims.remove();
    }
    expect(existsSync(claims.dir)).toBe(false);
  });

  it("sweeps only this user's folder of claims folders, removing those of primaries gone from this pid namespace, never a running one's or another namespace's (review10 part 2)", () => {
    const base = tempDir('claims-base');
    const parent = join(base, `tspuma-sites-${process.getuid!()}`);
    // Outside this user's folder: never read, whatever its name says (the temporary folder at large).
    const outside = join(base, 'tspuma-sites-999999999-AbC123');
    mkdirSync(outside);
    const folders = {
      dead: '999999999-500-0000aaaa-AbC123',
      running: '4242-700-0000aaaa-XyZ789',
      reused: '4343-700-0000aaaa-ReU5ed', // its pid runs a process started at another time
      otherNamespace: '999999997-500-0000bbbb-OthrNs', // a container's primary sharing the temporary folder
    };
    mkdirSync(parent, { mode: 0o700 });
    for (const name of Object.values(folders)) mkdirSync(join(parent, name, '.tspuma-sites'), { recursive: true });
    writeFileSync(join(parent, '999999998-500-0000aaaa-file00'), 'a file, not a folder of ours');
    const starts: Record<number, string> = { 4242: '700', 4343: '900' };
    const made = runClaimsFolder(base, { self: () => ({ start: '600', tag: '0000aaaa' }), alive: (pid) => pid in starts, start: (pid) => starts[pid] ?? null })!;
    expect(dirname(made.dir)).toBe(parent);
    expect(basename(made.dir)).toMatch(new RegExp(`^${process.pid}-600-0000aaaa-[A-Za-z0-9]{6}$`));
    expect(readdirSync(parent).sort()).toEqual([basename(made.dir), folders.running, folders.otherNamespace, '999999998-500-0000aaaa-file00'].sort());
    expect(existsSync(outside)).toBe(true);
    expect([statSync(parent).mode & 0o777, statSync(made.dir).mode & 0o777]).toEqual([0o700, 0o700]);
    rmSync(base, { recursive: true });
  });

  it("makes no claims folder where this user's folder of them is a link (another user's planted one): null, each worker prints its own dumps", () => {
    const base = tempDir('claims-link');
    const elsewhere = tempDir('claims-elsewhere');
    symlinkSync(elsewhere, join(base, `tspuma-sites-${process.getuid!()}`));
    expect(runClaimsFolder(base)).toBeNull();
    expect(readdirSync(elsewhere)).toEqual([]);
    rmSync(base, { recursive: true });
    rmSync(elsewhere, { recursive: true });
  });
});

describe('sinks: a dump not written', () => {
  it('says why beside its null path: no dump folder, or the coded write failure of a folder gone since (T9)', () => {
    const none = new Sinks({ dir: null, maxFiles: 50, githubActions: false, colour: false, write: () => undefined });
    expect(none.emit(dump('hang', 'app.ts:10'))).toEqual({ repeat: false, path: null, problem: 'no dump folder (TSPUMA_DUMP_DIR or dumpDir)' });
    const dir = tempDir('sinks-gone');
    const out: string[] = [];
    const gone = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out.push(t) });
    rmSync(dir, { recursive: true });
    const emitted = gone.emit(dump('hang', 'app.ts:10'));
    expect(emitted.path).toBeNull();
    expect(emitted.problem).toMatch(new RegExp(`^TSPUMA_ERR_FILE_WRITE, ENOENT: Cannot write the dump file ${dir}/[^ ]+\\.txt \\(ENOENT\\)`));
    expect(out.some((t) => t.startsWith('tspuma dump #'))).toBe(true);
  });

  it("its JSON log record (stdout, a collector's) carries why it was not written, which only stderr's line said (review20.8)", () => {
    const dir = tempDir('sinks-record-problem');
    const records: Record<string, unknown>[] = [];
    const log = { error: (obj: Record<string, unknown>) => records.push(obj) } as unknown as Logger;
    const failing = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: () => undefined });
    failing.recordTo(dumpRecorder(log));
    rmSync(dir, { recursive: true });
    failing.emit(dump('exception', 'app.ts:31'));
    const record = records[0]!.dump as { path: string | null; problem?: string };
    expect(record.path).toBeNull();
    expect(record.problem).toMatch(new RegExp(`^TSPUMA_ERR_FILE_WRITE, ENOENT: Cannot write the dump file ${dir}/[^ ]+\\.txt \\(ENOENT\\)`));
    // No folder set is no failure: no problem field on every record of a server without one.
    const none = new Sinks({ dir: null, maxFiles: 50, githubActions: false, colour: false, write: () => undefined });
    none.recordTo(dumpRecorder(log));
    none.emit(dump('exception', 'app.ts:32'));
    expect(records[1]!.dump).not.toHaveProperty('problem');
  });

  it("its footnote on the one-line frames' values names the folder whose write failed, not a folder to set (lead15.1)", () => {
    const dir = tempDir('sinks-full');
    const out: string[] = [];
    const record: string[] = [];
    const failing = new Sinks({ dir, maxFiles: 50, githubActions: false, colour: false, write: (t) => out.push(t) });
    failing.recordTo((_d, _path, text) => record.push(text()));
    rmSync(dir, { recursive: true });
    const d = dump('exception', 'app.ts:30');
    d.frames.push({ function: 'Layer.handle', file: 'node_modules/router/lib/layer.js', line: 169, column: 33, receiver: 'Layer', locals: { req: { summary: 'IncomingMessage' } }, library: true } as Dump['frames'][number]);
    expect(failing.emit(d).path).toBeNull();
    const footnote = `  (1 frame(s) of router shown without their values: its dump file could not be written in ${dir} (the TSPUMA_ERR_FILE_WRITE line says why))`;
    const hints = (text: string) => text.split('\n').filter((l) => l.includes('shown without their values'));
    expect(hints(out.find((t) => t.startsWith('tspuma dump #'))!)).toEqual([footnote]);
    expect(hints(record[0]!)).toEqual([footnote]);
  });

  it("the development page's text (a Reported's, from Diagnostics) names the folder whose write failed too, for the dump and its repeat (lead15.1)", () => {
    const dir = tempDir('sinks-page');
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir, env: {} });
    try {
      rmSync(dir, { recursive: true });
      const elsewhere = `shown without their values: its dump file could not be written in ${dir} (the TSPUMA_ERR_FILE_WRITE line says why))`;
      const hints = (text: string) => text.split('\n').filter((l) => l.includes('shown without their values'));
      const d = dump('exception', 'app.ts:40');
      d.frames.push({ function: 'Layer.handle', file: 'node_modules/router/lib/layer.js', line: 169, column: 33, receiver: 'Layer', locals: { req: { summary: 'IncomingMessage' } }, library: true } as Dump['frames'][number]);
      const emitted = diag.emit(d);
      expect(emitted.path).toBeNull();
      expect(hints(emitted.text!)).toEqual([`  (1 frame(s) of router ${elsewhere}`]);
      // A second failure there: a repeat, whose page shows the first dump with the same footnote.
      const again = diag.emit({ ...d, id: d.id + 1000 });
      expect(again.repeat).toBe(true);
      expect(hints(again.text!)).toEqual([`  (1 frame(s) of router ${elsewhere}`]);
    } finally {
      diag.close();
    }
  });

  it("so does the page of an app failure Diagnostics.report() dumps, and of its repeat (review11.6: the case above goes through emit() only)", () => {
    const dir = tempDir('sinks-report');
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir, env: {} });
    try {
      rmSync(dir, { recursive: true });
      const elsewhere = `shown without their values: its dump file could not be written in ${dir} (the TSPUMA_ERR_FILE_WRITE line says why))`;
      const hints = (text: string) => text.split('\n').filter((l) => l.includes('shown without their values'));
      // A captured failure (its values read at the throw), with a router frame below the app's.
      const snapshot = {
        phase: 'app',
        reason: 'exception',
        site: 'src/app.ts:40',
        redactions: [],
        frames: [
          { function: 'handler', file: 'src/app.ts', line: 40, column: 5, receiver: 'undefined', locals: { id: 7 }, library: false, origin: 'app' },
          { function: 'Layer.handle', file: 'node_modules/router/lib/layer.js', line: 169, column: 33, receiver: 'Layer', locals: { req: { summary: 'IncomingMessage' } }, library: true, origin: 'dependency' },
        ],
      };
      const first = diag.report(new Error('the review11.6 failure'), { phase: 'app', snapshot });
      expect([first.path, first.repeat]).toEqual([null, false]);
      expect(hints(first.text!)).toEqual([`  (1 frame(s) of router ${elsewhere}`]);
      const again = diag.report(new Error('the review11.6 failure'), { phase: 'app', snapshot });
      expect(again.repeat).toBe(true);
      expect(hints(again.text!)).toEqual([`  (1 frame(s) of router ${elsewhere}`]);
      // Again with nothing captured (a muted site's repeat, known by its kind and its stack's site).
      const muted = new Error('the review11.6 failure');
      muted.stack = 'Error: the review11.6 failure\n    at handler (src/app.ts:40:5)';
      const counted = diag.report(muted, { phase: 'app' });
      expect(counted.repeat).toBe(true);
      expect(hints(counted.text!)).toEqual([`  (1 frame(s) of router ${elsewhere}`]);
    } finally {
      diag.close();
    }
  });

  it('puts it in the autopsy line, with a DevTools pause as the reason a worker was not hung', () => {
    expect(autopsyLine(1, 687, { path: null, problem: 'TSPUMA_ERR_FILE_WRITE, ENOSPC: …' }, null)).toBe('Autopsy of worker 1 (PID: 687) not written to a file (TSPUMA_ERR_FILE_WRITE, ENOSPC: …): its [hang] dump is on stderr');
    expect(autopsyLine(0, 14306, { path: '/d/x.json' }, 'it was paused in a debugger (a DevTools client held it, reason "other")')).toBe(
      'Autopsy of worker 0 (PID: 14306) written to /d/x.json; it was paused in a debugger (a DevTools client held it, reason "other"), not hung',
    );
  });

  it('says, when the pause timed out on a machine whose load is above its CPUs, that the load may be why and which option gives it longer (review19.4)', () => {
    // At a load average of 36 on 2 CPUs a spinning worker took 3.5 s to pause: 2 of 2 autopsies failed at the 2 s default.
    expect(pauseTimeoutHint(2000, 36.12, 2)).toBe('It is killed without an autopsy. The load average is 36.1 on 2 CPU(s), so the pause may take longer than 2 s: raise workerAutopsyTimeout.');
    expect(pauseTimeoutHint(2000, 1.5, 2)).toBe('It is killed without an autopsy.');
  });
});

describe("sinks: what a repeat's report hands back", () => {
  // A captured failure at src/jobs.ts:12 (its values read at the throw).
  const snapshot = {
    phase: 'app',
    reason: 'exception',
    site: 'src/jobs.ts:12',
    redactions: [],
    frames: [{ function: 'chargeCard', file: 'src/jobs.ts', line: 12, column: 5, receiver: 'undefined', locals: { amount: 1000 }, library: false, origin: 'app' }],
  };
  const request = (url: string) => ({ method: 'GET', url, headers: {}, rawHeaders: [], socket: {} }) as unknown as IncomingMessage;
  const seen = (r: { repeat: boolean; own?: boolean; elsewhere?: boolean; path: string | null; dump: Dump }) => ({ repeat: r.repeat, own: r.own, elsewhere: r.elsewhere, path: r.path, url: r.dump.request?.url });

  it("marks a dump built for this failure at a site another worker of the run dumped first: its request is this failure's, its number never shown (review20.1)", () => {
    const dir = tempDir('sinks-elsewhere');
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir, env: { TSPUMA_WORKER_INDEX: '1', TSPUMA_CLUSTER_RUN: 'run-r20' } });
    try {
      // Worker 0 of the run dumped the site first.
      expect(claimSite(dir, 'run-r20-phase0', 'src/jobs.ts:12', '/dumps/worker0-0001.json')).toEqual({ mine: true });
      const r = diag.report(new Error('card declined'), { phase: 'app', snapshot, request: request('/unawaited?id=2') });
      expect(seen(r)).toEqual({ repeat: true, own: true, elsewhere: true, path: '/dumps/worker0-0001.json', url: '/unawaited?id=2' });
      // The next one there, counted without a capture: the dump handed back is this worker's first record, not this failure's.
      const muted = new Error('card declined');
      muted.stack = 'Error: card declined\n    at chargeCard (src/jobs.ts:12:5)';
      expect(seen(diag.report(muted, { phase: 'app', request: request('/unawaited?id=4') }))).toEqual({ repeat: true, own: undefined, elsewhere: true, path: '/dumps/worker0-0001.json', url: '/unawaited?id=2' });
    } finally {
      diag.close();
    }
  });

  it("says in an unhandled rejection's dump that nobody awaited it: its request line alone read as that request's failure (review20.12)", () => {
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir: null, env: {} });
    try {
      const r = diag.report(new Error('card declined'), { phase: 'app', kind: 'rejection', unhandled: true, snapshot: { ...snapshot, site: 'src/jobs.ts:13' }, request: request('/unawaited?id=1') });
      expect(r.dump.unhandled).toBe(true);
      expect(r.text.split('\n').filter((l) => l.startsWith('  unhandled:'))).toEqual(["  unhandled: a promise nobody awaited rejected (the server kept serving; the request below started its work, and was answered as the app chose)"]);
      // A rejection a framework caught (its 500) says nothing of the kind.
      const caught = diag.report(new Error('card declined twice'), { phase: 'app', kind: 'rejection', snapshot: { ...snapshot, site: 'src/jobs.ts:14' }, request: request('/pay') });
      expect(caught.text).not.toContain('unhandled:');
    } finally {
      diag.close();
    }
  });

  it('marks a dump built for a repeat captured anew at a site this process dumped, as its own (its request is this one)', () => {
    const diag = enableDiagnostics({ write: () => undefined, colour: false, dir: tempDir('sinks-own'), env: {} });
    try {
      const first = diag.report(new Error('card declined'), { phase: 'app', snapshot, request: request('/pay?id=1') });
      expect(seen(first)).toEqual({ repeat: false, own: undefined, elsewhere: undefined, path: first.path, url: '/pay?id=1' });
      expect(seen(diag.report(new Error('card declined'), { phase: 'app', snapshot, request: request('/pay?id=2') }))).toEqual({ repeat: true, own: true, elsewhere: undefined, path: first.path, url: '/pay?id=2' });
    } finally {
      diag.close();
    }
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
    const dir = tempDir('summary');
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
    const dir = tempDir('summary');
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

describe("a client's text in an error message (stderr, the exit summary, the 500 page's dump)", () => {
  // What an app quotes from a query string: `limit must be an integer, got ${raw}`.
  const FORGED = 'limit must be an integer, got abc\n\ntspuma dump #99 [app] Error: forged\n  request: GET /admin (from 10.0.0.1)\x1b[31mRED\x1b[0m\r\u0085\u2028::add-mask::abc';
  const hostile = () => {
    const d = dump('exception', 'src/listener-app.ts:5', 'TypeError');
    d.error.message = FORGED;
    d.error.causes = [{ name: 'Error', message: 'upstream said\n::warning file=src/repo.ts,line=1::injected', code: null } as Dump['error']['causes'][number]];
    d.note = 'thrown while parsing\n::error::note';
    return d;
  };
  const LINE_BREAKS_AND_CONTROLS = /[\n\r\x1b\u0085\u2028]/;

  it('never starts a line of its own nor carries control characters: the headline, caused by, note, exit summary and GitHub annotation escape them (\\n, \\u001b, %0A)', () => {
    const out: string[] = [];
    const workspace = '/home/runner/work/shop/shop';
    const github = { workspace, summary: null, cwd: workspace, serverUrl: 'https://github.com', repository: 'acme/shop', runId: '99', sha: 'abc123' };
    const sinks = new Sinks({ dir: null, maxFiles: 50, githubActions: true, github, colour: false, write: (t) => out.push(t) });
    sinks.emit(hostile());
    // The annotation: line breaks as the runner's %0A, ESC escaped, one line.
    const annotation = out.find((t) => t.startsWith('::error '))!;
    expect(annotation).toContain('got abc%0A%0Atspuma dump #99 [app] Error: forged%0A  request: GET /admin (from 10.0.0.1)\\u001b[31mRED');
    expect(annotation.slice(0, -1)).not.toMatch(LINE_BREAKS_AND_CONTROLS);
    const text = out.find((t) => t.startsWith('tspuma dump #'))!;
    const lines = [...text.split('\n'), ...sinks.summary().split('\n')];
    expect(lines.filter((l) => /^(tspuma dump #99|\s*request: GET \/admin|::)/.test(l))).toEqual([]);
    for (const l of lines) expect(l).not.toMatch(LINE_BREAKS_AND_CONTROLS);
    expect(text).toContain('TypeError: limit must be an integer, got abc\\n\\ntspuma dump #99 [app] Error: forged\\n  request: GET /admin (from 10.0.0.1)\\u001b[31mRED\\u001b[0m\\r\\u0085\\u2028::add-mask::abc');
    expect(text).toContain('  caused by Error: upstream said\\n::warning file=src/repo.ts,line=1::injected');
    expect(text).toContain('  note: thrown while parsing\\n::error::note');
    expect(sinks.summary()).toContain('TypeError: limit must be an integer, got abc\\n\\ntspuma dump #99');
  });
});
