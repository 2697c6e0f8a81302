// Integration: the doctor script (`npm run doctor` after its build step) on examples/hello.ts with
// a 1 s autocannon run (the length of the load is not what is tested: 3 s cost 2 s more of CPU and wall): exit 0, an HTML report over 100 KB, and the run named inside it.
// With --no-minify (clinic's --debug): terser's pass over the report's script was about 2.4 s of
// the file's 5-6 s of CPU, and the minified default differs from it only in clinic's argv, which
// the unit test (test/unit/doctor.test.ts) checks.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { hermeticEnv, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const BOUND_MS = 120_000;
let dir: string | null = null;


it(
  'tspuma doctor --no-minify with -d 1 on examples/hello.ts: exit 0, an unminified report (its script with an inline source map) over 100 KB that names the autocannon run in its header and title',
  async () => {
    dir = tempDir('doctor');
    const started = Date.now();
    // Its own process group: clinic's server and autocannon go with it if the bound is hit.
    const child = spawn(process.execPath, [join(ROOT, 'dist/server/cli.js'), 'doctor', '-d', '1', '--no-minify', '--dest', dir, 'examples/hello.ts'], { cwd: ROOT, env: hermeticEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const bound = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), BOUND_MS);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(bound);
    const seconds = (Date.now() - started) / 1000;
    expect(code, out).toBe(0);
    const report = join(dir, 'examples-hello-ts-autocannon-c10-d1.clinic-doctor.html');
    expect(statSync(report).size).toBeGreaterThan(100 * 1024);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<title>Clinic Doctor: examples-hello-ts-autocannon-c10-d1</title>');
    // browserify's inline source map: clinic built the script with --debug and terser did not run.
    expect(html).toContain('//# sourceMappingURL=data:application/json;charset=utf-8;base64,');
    expect(html).toMatch(/<h1 id="tspuma-run"[^>]*>examples-hello-ts-autocannon-c10-d1: autocannon -c 10 -d 1 \/ against tspuma -q -e production -b tcp:\/\/127\.0\.0\.1:0 examples\/hello\.ts: [\d.]+k? requests in [\d.]+s, [\d.]+ [kMG]?B read<\/h1>/);
    expect(out).toContain(`Report ${report} (`);
    // The wall time, for the record: clinic's analysis, not the 1 s of load, is most of it.
    console.log(`tspuma doctor -d 1 --no-minify: ${seconds.toFixed(1)} s, report ${Math.round(statSync(report).size / 1024)} KB`);
  },
  BOUND_MS + 10_000,
);
