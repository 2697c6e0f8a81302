// `tspuma doctor [-c N] [-d S] [--dest DIR] [APP]`: clinic doctor on tspuma single mode under an
// autocannon run, then names that run inside the HTML report (clinic names it only in the file
// name): a visible line in the report's header and its <title>. Clinic is not a dependency of
// tspuma (it is large): it is taken from the project being profiled, else from beside tspuma.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_APP_FILES } from '../app-files.js';
import { TspumaError } from '../errors.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
export const USAGE = 'usage: tspuma doctor [-c CONNECTIONS] [-d SECONDS] [--dest DIR] [--no-minify] [APP]';

export interface DoctorArgs {
  connections: number;
  seconds: number;
  dest: string;
  /**
   * Whether clinic minifies the report's script (its default). `--no-minify` passes clinic's own
   * `--debug`: an unminified bundle with its source map inline, about 3.5x larger (1.1 MB against
   * 330 KB for examples/hello.ts), readable, and about 2.5 s less CPU (terser's pass over it).
   */
  minify: boolean;
  /** The app; null: the server's default files (app.ts, app.js, index.ts) in the folder. */
  app: string | null;
}

export function parseDoctorArgs(argv: string[]): DoctorArgs {
  const usage = (problem: string): never => {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}; ${USAGE}`, source: 'command line' });
  };
  const out: DoctorArgs = { connections: 10, seconds: 10, dest: '.clinic', minify: true, app: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    const count = (raw: string) => (/^[1-9]\d{0,5}$/.test(raw) ? Number(raw) : usage(`${a} must be a whole number from 1 to 999999; got ${JSON.stringify(raw)}`));
    if (a === '-c') out.connections = count(value());
    else if (a === '-d') out.seconds = count(value());
    else if (a === '--dest') out.dest = value();
    else if (a === '--no-minify') out.minify = false;
    else if (a.startsWith('-')) usage(`unknown argument ${a}`);
    else out.app = a;
  }
  return out;
}

/**
 * The run's name: the report's file name, and the first words of its heading. The app's path
 * (relative to `cwd` when below it, else its name and a hash of the path) is in it, so the reports
 * of two app.ts files of one project never overwrite each other.
 */
export function runName(a: Pick<DoctorArgs, 'connections' | 'seconds'> & { app: string }, cwd = process.cwd()): string {
  const abs = resolve(cwd, a.app);
  const rel = relative(cwd, abs);
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  const label = inside ? rel : `${basename(abs)}-${createHash('sha256').update(abs).digest('hex').slice(0, 8)}`;
  return `${label.replace(/[^A-Za-z0-9]+/g, '-')}-autocannon-c${a.connections}-d${a.seconds}`;
}

/** Where clinic's bin is: the project's own devDependency first, then one beside tspuma. */
export function findClinic(cwd = process.cwd()): string {
  for (const from of [join(cwd, 'package.json'), fileURLToPath(import.meta.url)]) {
    try {
      return createRequire(from).resolve('clinic/bin.js');
    } catch {
      /* the next place */
    }
  }
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', {
    problem: `tspuma doctor runs clinic, which is not installed in ${cwd} (nor beside tspuma): npm install --save-dev clinic (it is not a dependency of tspuma: it brings a few hundred packages)`,
    source: 'command line',
  });
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);

/**
 * Writes `heading` into the report's header bar and `name` into its <title>. Clinic ends the file
 * with a comment holding a hash of everything before it; it is computed again over the new text.
 */
export function nameReport(html: string, name: string, heading: string): string {
  const tail = /<!-- (\{"tool".*\}) -->\n?$/.exec(html);
  let body = tail ? html.slice(0, tail.index) : html;
  const inner = '<div class="nc-header__inner"></div>';
  if (!body.includes(inner)) throw new Error('the report has no header bar to write the run into (has clinic changed its template?)');
  const line = `<div class="nc-header__inner"><h1 id="tspuma-run" style="margin:0;font-size:14px;font-weight:normal;color:#fff">${escapeHtml(heading)}</h1></div>`;
  body = body.replace(inner, line).replace('<title>Clinic Doctor</title>', `<title>Clinic Doctor: ${escapeHtml(name)}</title>`);
  if (!tail) return body;
  const info = JSON.parse(tail[1]!) as Record<string, unknown>;
  info.hash = createHash('sha512').update('clinic\n').update(body).digest('hex');
  return `${body}<!-- ${JSON.stringify(info)} -->\n`;
}

/** autocannon's summary line, "379k requests in 11.03s, 62.4 MB read", from clinic's output. */
export function autocannonSummary(output: string): string | null {
  return /\b[\d.]+k? requests in [\d.]+s, [\d.]+ [kMG]?B read\b/.exec(output)?.[0] ?? null;
}

/** clinic's arguments after its bin: doctor on `server` (tspuma's command line) under autocannon's `load`, the report named `name` in `dest`. */
export function clinicArgs(a: Pick<DoctorArgs, 'minify'>, dest: string, name: string, load: readonly string[], server: readonly string[]): string[] {
  return ['doctor', '--open=false', ...(a.minify ? [] : ['--debug']), '--dest', dest, '--name', name, '--autocannon', '[', ...load, ']', '--', process.execPath, CLI, ...server];
}

/** Runs clinic doctor with autocannon against `tspuma -q -e production APP` and names the report; the exit code. */
export async function doctor(argv: string[]): Promise<number> {
  const parsed = parseDoctorArgs(argv);
  const app = parsed.app ?? DEFAULT_APP_FILES.find((f) => existsSync(f));
  if (app === undefined) throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `no APP given and none of ${DEFAULT_APP_FILES.join(', ')} here; ${USAGE}`, source: 'command line' });
  const a = { ...parsed, app };
  const clinic = findClinic();
  const name = runName(a);
  const dest = resolve(a.dest);
  const report = join(dest, `${name}.clinic-doctor.html`);
  // An earlier run's report must not pass for this one's.
  rmSync(report, { force: true });
  const server = ['-q', '-e', 'production', '-b', 'tcp://127.0.0.1:0', a.app];
  const load = ['-c', String(a.connections), '-d', String(a.seconds), '/'];
  const child = spawn(process.execPath, [clinic, ...clinicArgs(a, dest, name, load, server)], {
    // Without NO_INSIGHT, clinic on Node 20 asks about insights and, with no TTY, exits silently.
    env: { ...process.env, NO_INSIGHT: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-65536));
  child.stdout.on('data', (c: Buffer) => (process.stdout.write(c), keep(c)));
  child.stderr.on('data', (c: Buffer) => (process.stderr.write(c), keep(c)));
  const code = await new Promise<number>((done) => child.on('close', (c, signal) => done(c ?? (signal ? 1 : 0))));
  if (code !== 0) return code;
  if (!existsSync(report)) {
    process.stderr.write(`tspuma doctor: clinic exited 0 but wrote no ${report}\n`);
    return 1;
  }
  const summary = autocannonSummary(output);
  const heading = `${name}: autocannon ${load.join(' ')} against tspuma ${server.join(' ')}${summary ? `: ${summary}` : ''}`;
  writeFileSync(report, nameReport(readFileSync(report, 'utf8'), name, heading));
  process.stdout.write(`Report ${report} (${Math.round(statSync(report).size / 1024)} KB) names its run: ${heading}\n`);
  return 0;
}
