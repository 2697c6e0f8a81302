// Unit: the doctor script's arguments, the run's name, autocannon's summary line, and how the
// run is written into clinic's report (header line, title, clinic's closing hash recomputed).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { autocannonSummary, clinicArgs, findClinic, nameReport, parseDoctorArgs, runName } from '../../server/cli/doctor.js';

/** The shape of clinic doctor's report: its header bar, a title, and the closing hash comment. */
function clinicLike(body: string): string {
  const html = `<html><head><title>Clinic Doctor</title></head><body><div class="nc-header"><a>Doctor</a>\n<div class="nc-header__inner"></div>\n</div>${body}</body></html>\n`;
  const hash = createHash('sha512').update('clinic\n').update(html).digest('hex');
  return `${html}<!-- ${JSON.stringify({ tool: 'doctor', toolVersion: '11.0.0', hash })} -->\n`;
}

describe('tspuma doctor', () => {
  it('defaults to 10 connections for 10 s and the default app files, named after the app path', () => {
    const a = parseDoctorArgs([]);
    expect(a).toEqual({ connections: 10, seconds: 10, dest: '.clinic', minify: true, app: null });
    expect(runName({ ...a, app: 'examples/hello.ts' }, '/repo')).toBe('examples-hello-ts-autocannon-c10-d10');
  });

  it('takes -c, -d, --dest and an app path, and names the run after them', () => {
    const a = parseDoctorArgs(['-c', '4', '-d', '3', '--dest', '/tmp/x', 'src/my.app.ts']);
    expect(a).toEqual({ connections: 4, seconds: 3, dest: '/tmp/x', minify: true, app: 'src/my.app.ts' });
    expect(runName({ ...a, app: a.app! }, '/repo')).toBe('src-my-app-ts-autocannon-c4-d3');
  });

  it("passes clinic's --debug (no minified report) for --no-minify only, before the command clinic runs", () => {
    const server = ['-q', 'app.ts'];
    const load = ['-c', '10', '-d', '1', '/'];
    const minified = clinicArgs(parseDoctorArgs(['app.ts']), '/d', 'n', load, server);
    expect(minified).not.toContain('--debug');
    const plain = clinicArgs(parseDoctorArgs(['--no-minify', 'app.ts']), '/d', 'n', load, server);
    expect(plain.slice(0, plain.indexOf('--'))).toEqual(['doctor', '--open=false', '--debug', '--dest', '/d', '--name', 'n', '--autocannon', '[', ...load, ']']);
    expect(plain.slice(plain.indexOf('--') + 1)).toEqual(minified.slice(minified.indexOf('--') + 1));
  });

  it('names the reports of two app.ts files of one project differently, also for apps outside the folder', () => {
    const a = { connections: 10, seconds: 10, dest: '.clinic' };
    const names = [runName({ ...a, app: 'services/web/app.ts' }, '/repo'), runName({ ...a, app: 'services/admin/app.ts' }, '/repo'), runName({ ...a, app: '/elsewhere/one/app.ts' }, '/repo'), runName({ ...a, app: '/elsewhere/two/app.ts' }, '/repo')];
    expect(new Set(names).size).toBe(4);
    expect(names[2]).toMatch(/^app-ts-[0-9a-f]{8}-autocannon-c10-d10$/);
  });

  it("finds clinic through the project's own node_modules", () => {
    expect(findClinic(ROOT)).toBe(`${ROOT}node_modules/clinic/bin.js`);
  });

  it('refuses a duration that is not a whole number with TSPUMA_ERR_CLI_USAGE naming the flag and the value', () => {
    expect(() => parseDoctorArgs(['-d', '3s'])).toThrow(expect.objectContaining({ code: 'TSPUMA_ERR_CLI_USAGE', message: expect.stringContaining('-d must be a whole number from 1 to 999999; got "3s"') }));
    expect(() => parseDoctorArgs(['--seconds', '3'])).toThrow(/unknown argument --seconds/);
  });

  it("finds autocannon's summary line in clinic's output", () => {
    expect(autocannonSummary('Req/Bytes counts sampled once per second.\n# of samples: 3\n\n53k requests in 3.05s, 7.24 MB read\nAnalysing data\n')).toBe('53k requests in 3.05s, 7.24 MB read');
    expect(autocannonSummary('Analysing data\n')).toBeNull();
  });

  it("writes the run into the header bar and the title, escaped, and recomputes clinic's closing hash over the new text", () => {
    const named = nameReport(clinicLike('<div id="graph"></div>'), 'hello-ts-autocannon-c10-d3', 'hello-ts-autocannon-c10-d3: autocannon -c 10 -d 3 / <&>');
    expect(named).toContain('<title>Clinic Doctor: hello-ts-autocannon-c10-d3</title>');
    expect(named).toContain('<div class="nc-header__inner"><h1 id="tspuma-run" style="margin:0;font-size:14px;font-weight:normal;color:#fff">hello-ts-autocannon-c10-d3: autocannon -c 10 -d 3 / &lt;&amp;&gt;</h1></div>');
    const tail = /<!-- (\{.*\}) -->\n$/.exec(named)!;
    const body = named.slice(0, tail.index);
    expect(JSON.parse(tail[1]!)).toEqual({ tool: 'doctor', toolVersion: '11.0.0', hash: createHash('sha512').update('clinic\n').update(body).digest('hex') });
  });

  it('says so when the report has no header bar to write into', () => {
    expect(() => nameReport('<html><title>Clinic Doctor</title></html>', 'n', 'h')).toThrow(/no header bar/);
  });
});
