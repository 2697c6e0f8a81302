// `npm run doctor [-- -c N -d S --dest DIR APP]`: clinic doctor on tspuma single mode under an
// autocannon run, then names that run inside the HTML report (clinic names it only in the file
// name): a visible line in the report's header and its <title>.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/server/cli.js');
const USAGE = 'usage: npm run doctor -- [-c CONNECTIONS] [-d SECONDS] [--dest DIR] [APP]';

export interface DoctorArgs {
  connections: number;
  seconds: number;
  dest: string;
  app: string;
}

export function parseDoctorArgs(argv: string[]): DoctorArgs {
  const usage = (problem: string): never => {
    // tspuma's own usage code; not TspumaError, whose text points at `tspuma --help`.
    throw Object.assign(new Error(`${problem}; ${USAGE}`), { code: 'TSPUMA_ERR_CLI_USAGE' });
  };
  const out: DoctorArgs = { connections: 10, seconds: 10, dest: '.clinic', app: 'examples/hello.ts' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    const count = (raw: string) => (/^[1-9]\d{0,5}$/.test(raw) ? Number(raw) : usage(`${a} must be a whole number from 1 to 999999; got ${JSON.stringify(raw)}`));
    if (a === '-c') out.connections = count(value());
    else if (a === '-d') out.seconds = count(value());
    else if (a === '--dest') out.dest = value();
    else if (a.startsWith('-')) usage(`unknown argument ${a}`);
    else out.app = a;
  }
  return out;
}

/** The run's name: the report's file name, and the first words of its heading. */
export function runName(a: DoctorArgs): string {
  return `${basename(a.app).replace(/[^A-Za-z0-9]+/g, '-')}-autocannon-c${a.connections}-d${a.seconds}`;
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

async function main(argv: string[]): Promise<number> {
  const a = parseDoctorArgs(argv);
  const name = runName(a);
  const dest = resolve(a.dest);
  const report = join(dest, `${name}.clinic-doctor.html`);
  // An earlier run's report must not pass for this one's.
  rmSync(report, { force: true });
  const clinic = createRequire(import.meta.url).resolve('clinic/bin.js');
  const server = ['-q', '-e', 'production', '-b', 'tcp://127.0.0.1:0', a.app];
  const load = ['-c', String(a.connections), '-d', String(a.seconds), '/'];
  const child = spawn(process.execPath, [clinic, 'doctor', '--open=false', '--dest', dest, '--name', name, '--autocannon', '[', ...load, ']', '--', process.execPath, CLI, ...server], {
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
    process.stderr.write(`npm run doctor: clinic exited 0 but wrote no ${report}\n`);
    return 1;
  }
  const summary = autocannonSummary(output);
  const heading = `${name}: autocannon ${load.join(' ')} against tspuma ${server.join(' ')}${summary ? `: ${summary}` : ''}`;
  writeFileSync(report, nameReport(readFileSync(report, 'utf8'), name, heading));
  process.stdout.write(`Report ${report} (${Math.round(statSync(report).size / 1024)} KB) names its run: ${heading}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      process.stderr.write(`npm run doctor: ${code === 'TSPUMA_ERR_CLI_USAGE' ? `${code}: ${(err as Error).message}` : (err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
