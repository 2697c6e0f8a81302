// Integration: what a `-d` dump shows. Secrets held in values (a connection string, URL
// userinfo, form and JSON bodies, a function's source) reach no destination; a method's
// receiver shows its fields; a CommonJS app's module-level functions and imports are not
// locals and the culprit line is printed with a caret; a stack overflow is folded.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { boot, killAll, killAllBut, run, ROOT, type Booted } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterEach(() => killAllBut(limiter?.s));
afterAll(killAll);

const LOCAL = 'tcp://127.0.0.1:0';

function lineOf(file: string, needle: string): { line: number; text: string } {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return { line: i + 1, text: lines[i]! };
}

/** The only dump in `dir`, or the one of the request to `url` (its file name, json, its text file's content). */
async function onlyDump(dir: string, url?: string): Promise<{ dump: Dump; json: string; text: string; name: string }> {
  const of = (n: string) => url === undefined || (JSON.parse(readFileSync(join(dir, n), 'utf8')) as Dump).request?.url === url;
  const name = await waitFor(() => readdirSync(dir).find((n) => n.endsWith('.json') && of(n)), url === undefined ? 'the dump file' : `the dump of ${url}`);
  const json = readFileSync(join(dir, name), 'utf8');
  const text = await waitFor(() => {
    try {
      return readFileSync(join(dir, name.replace(/\.json$/, '.txt')), 'utf8');
    } catch {
      return undefined;
    }
  }, 'the text file');
  return { dump: JSON.parse(json) as Dump, json, text, name };
}

/**
 * test/fixtures/ratelimit-app.ts under -d, booted by the first case that asks and kept for the
 * others: each reads the dump of its own URL (a second GET /take is a repeat of the first, so
 * the case that asks for it again reads the first one's dump). Its /leak is leaky-app.ts's (a
 * server of its own cost the secrets case a -d .ts boot).
 */
let limiter: { s: Booted; dir: string } | undefined;
async function limiterApp(): Promise<{ s: Booted; dir: string }> {
  if (!limiter) {
    const dir = tempDir('limiter');
    limiter = { s: await boot(['-d', '--inspect=off', '-b', LOCAL, 'test/fixtures/ratelimit-app.ts'], { TSPUMA_DUMP_DIR: dir }), dir };
  }
  return limiter;
}

describe('what a dump shows', () => {
  it('keeps secrets held in values out of the .json, the .txt, stderr and the development 500 page; tokens and tokenizer stay visible', async () => {
    const { s, dir } = await limiterApp();
    const res = await fetch(`${s.url}/leak`);
    expect(res.status).toBe(500);
    const page = await res.text();
    const { dump, json, text, name } = await onlyDump(dir, '/leak');
    await waitFor(() => s.stderr().includes(`written to ${join(dir, name.replace(/\.json$/, ''))}`), 'the dump on stderr');
    const culprit = dump.frames[dump.culprit]!;
    expect(culprit.function).toBe('callUpstream');
    expect(culprit.locals).toMatchObject({
      tokens: 3,
      tokenizer: 'words',
      dsn: 'postgres://app:[redacted]@db.internal/orders',
      upstream: 'https://svc:[redacted]@api.example.test/v1/charge',
      form: 'user=ann&password=[redacted]&remember=1',
      body: '{"user":"ann","password":"[redacted]","auth":"[redacted]"}',
      sign: { summary: `function sign/1 at test/fixtures/leaky-app.ts:${lineOf(join(ROOT, 'test/fixtures/leaky-app.ts'), 'const sign =').line}` },
    });
    expect(page).toContain('tspuma caught this error: upstream https://svc:[redacted]@api.example.test/v1/charge refused');
    for (const out of [page, text, s.stderr()]) expect(out).toContain('tokens=3  tokenizer="words"');
    for (const out of [page, json, text, s.stderr()]) {
      for (const secret of ['PGPASS-7781', 'SVCPASS-8812', 'FORMPASS-9923', 'JSONPASS-1134', 'JWTLIKE-2245', 'sk_live_FNKEY3356aa', 'FNKEY']) expect(out).not.toContain(secret);
    }
  });

  it('shows the receiver fields of RateLimiter.take(): tokens: 0 and the rest of its 8 fields', async () => {
    const { s, dir } = await limiterApp();
    expect((await fetch(`${s.url}/take`)).status).toBe(500);
    const { dump, text } = await onlyDump(dir, '/take');
    const culprit = dump.frames[dump.culprit]!;
    expect(culprit.function).toBe('RateLimiter.take');
    expect(culprit.receiverFields).toEqual({
      tokens: 0,
      capacity: 5,
      refillPerSecond: 1,
      lastRefill: 1_700_000_000_000,
      name: 'uploads',
      waiting: 3,
      strict: true,
      owner: { summary: 'Object {team: "storage", pager: 7}' },
    });
    expect(text).toContain('        this: tokens=0  capacity=5  refillPerSecond=1');
    expect(s.stderr()).toContain('this: tokens=0');
  });

  it('folds a stack overflow to the recursive function and says the stack text was cut', async () => {
    const { s, dir } = await limiterApp();
    expect((await fetch(`${s.url}/deep`)).status).toBe(500);
    const { dump, text } = await onlyDump(dir, '/deep');
    expect(dump.error.name).toBe('RangeError');
    const folded = dump.frames.find((f) => f.function === 'walk' && f.repeat);
    expect(folded?.repeat).toBeGreaterThanOrEqual(8);
    expect(dump.frames.filter((f) => f.function === 'walk').length).toBeLessThanOrEqual(2);
    expect(text).toContain(`stack overflow: walk calls itself (×${folded!.repeat})`);
    expect(text).toMatch(new RegExp(`#\\d walk  test/fixtures/ratelimit-app\\.ts:\\d+:\\d+  ×${folded!.repeat}\\n`));
  });

  it('a CommonJS .ts app (tsx): module-level functions and imports are no locals, and the culprit line is printed with a caret', async () => {
    const pkg = tempDir('cjs');
    writeFileSync(join(pkg, 'package.json'), '{ "type": "commonjs" }\n');
    const app = join(pkg, 'app.ts');
    writeFileSync(
      app,
      `import { join } from 'node:path';
import * as http from 'node:http';

const LIMIT = 3;

function formatOrder(id: number): string {
  return join('orders', String(id));
}

function loadOrder(id: number): string {
  const path = formatOrder(id);
  if (id > LIMIT) throw new Error(\`order \${id} is past \${LIMIT} (\${http.STATUS_CODES[404]})\`);
  return path;
}

export default function app(request: Request): Response {
  return new Response(loadOrder(Number(new URL(request.url).searchParams.get('id'))));
}
`,
    );
    const dir = tempDir('cjs-dumps');
    const s = await boot(['-d', '--inspect=off', '-b', LOCAL, app], { TSPUMA_DUMP_DIR: dir });
    expect((await fetch(`${s.url}/?id=9`)).status).toBe(500);
    const { dump, text } = await onlyDump(dir);
    const culprit = dump.frames[dump.culprit]!;
    expect(culprit.function).toBe('loadOrder');
    expect(culprit.locals).toEqual({ id: 9, path: 'orders/9', LIMIT: 3 });
    for (const f of dump.frames.filter((x) => x.origin === 'app')) {
      for (const name of ['formatOrder', 'loadOrder', 'app', 'join', 'http', 'import_node_path', 'import_node_http']) expect(Object.keys(f.locals)).not.toContain(name);
    }
    const throwLine = lineOf(app, 'throw new Error');
    expect(culprit.line).toBe(throwLine.line);
    const lines = text.split('\n');
    const at = lines.indexOf(`        ${throwLine.line} | ${throwLine.text}`);
    expect(at, text).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(`        ${' '.repeat(String(throwLine.line).length)} | ${' '.repeat(culprit.column - 1)}^`);
    expect(throwLine.text.slice(culprit.column - 1)).toMatch(/^throw new Error/);
  });

  it('prints tspuma and node frames in full only when asked: tspuma dump --all-frames', async () => {
    const { s, dir } = await limiterApp();
    expect((await fetch(`${s.url}/take`)).status).toBe(500);
    const { dump, name } = await onlyDump(dir, '/take');
    const node = dump.frames.find((f) => f.origin === 'node' && Object.keys(f.locals).length > 0)!;
    expect(node).toMatchObject({ origin: 'node', library: true });
    const short = run(['dump', join(dir, name)]);
    const all = run(['dump', '--all-frames', join(dir, name)]);
    expect(await short.exited).toBe(0);
    expect(await all.exited).toBe(0);
    const firstLocal = Object.keys(node.locals)[0]!;
    const head = `#${dump.frames.indexOf(node)} ${node.function}  ${node.file}:${node.line}:${node.column}`;
    // Without the flag the node frame is inside the one line that folds the run of tspuma's and
    // node's frames under the app's, and its values are not printed.
    const at = dump.frames.indexOf(node);
    const folds = [...short.stdout().matchAll(/#(\d+)-#(\d+) \d+ frames in /g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(folds.some(([from, to]) => from! <= at && at <= to!), short.stdout()).toBe(true);
    expect(short.stdout()).not.toMatch(new RegExp(`${head.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\n\\s+.*${firstLocal}=`));
    expect(all.stdout()).toMatch(new RegExp(`${head.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\n\\s+.*${firstLocal}=`));
  });
});
