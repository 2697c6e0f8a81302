// Integration (finding T14): GNU `timeout` signals the server and then its process group, so the
// server gets one SIGTERM twice, microseconds apart. That is one graceful stop: a request in flight
// still gets its answer, in single mode and in cluster mode. A SIGTERM sent again later (2 s) still forces.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allBooted, boot, killAll } from '../helpers/cli.js';
import { appFolder } from '../helpers/app-folder.js';
import { waitFor } from '../helpers/net.js';

afterEach(killAll);

// /slow?ms=N sends its head at once (so the client knows the request is in the app), its body after
// N ms, or with &until=PATH once PATH exists (the test's release; N bounds it); /quiet?ms=N sends
// nothing for N ms, and says on stdout that it arrived.
const root = appFolder('repeated-sigterm', {
  'app.mjs': `import { existsSync } from 'node:fs';
export default function app(req, res) {
  const url = new URL(req.url, 'http://x');
  const ms = Number(url.searchParams.get('ms') ?? 0);
  if (url.pathname === '/quiet') {
    console.log('quiet request in the app');
    setTimeout(() => res.end('done after ' + ms + ' ms'), ms);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.flushHeaders();
  const until = url.searchParams.get('until');
  const end = Date.now() + ms;
  const answer = () => res.end(until && existsSync(until) ? 'released' : 'done after ' + ms + ' ms');
  if (!until) return setTimeout(answer, ms);
  const poll = setInterval(() => {
    if (!existsSync(until) && Date.now() < end) return;
    clearInterval(poll);
    answer();
  }, 20);
}
`,
});
const APP = join(root, 'app.mjs');

describe.each([
  ['single mode', [] as string[]],
  ['cluster mode (-w 1)', ['-w', '1']],
])('two SIGTERMs a moment apart (GNU timeout), %s', (_mode, flags) => {
  it('are one graceful stop: the request in flight gets its whole answer, the exit is 0, and the log says the second was the same stop', async () => {
    const s = await boot([...flags, '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP]);
    if (flags.length > 0) await allBooted(s);
    // Held until both signals are in, not for a guessed 1.5 s: its head is here, the request is in the app.
    const release = join(root, `release-${flags.length}`);
    const res = await fetch(`${s.url}/slow?ms=60000&until=${release}`);
    s.proc.kill('SIGTERM');
    // Two signals sent back to back may reach node as one (the kernel keeps one pending): the second
    // goes once the first was handled, as GNU timeout's second one does when the process ran between them.
    const first = await waitFor(() => s.lines().find((l) => /^Received SIGTERM, stopping/.test(String(l.msg))), 'the first stop line');
    s.proc.kill('SIGTERM');
    expect(Date.now() - Number(first.time), 'the second SIGTERM was sent within the repeat window').toBeLessThan(2000);
    // Both signals handled (the second one's line) while the request is still in the app, then released.
    await waitFor(() => s.lines().find((l) => /^Received SIGTERM again/.test(String(l.msg))), 'the second SIGTERM handled');
    writeFileSync(release, '');
    expect([res.status, await res.text()]).toEqual([200, 'released']);
    expect(await s.exited).toBe(0);
    const msgs = s.lines().map((l) => String(l.msg));
    expect(msgs).toContainEqual(expect.stringMatching(/^Received SIGTERM again \d+ ms after the first: the same stop \(a tool such as GNU timeout signals the process and its group\)/));
    expect(msgs.filter((m) => /again: (halting|forcing shutdown)/.test(m))).toEqual([]);
  });
});

describe('a SIGTERM sent again more than 2 s after the first', () => {
  it('forces the stop in cluster mode as in single mode (N4): a request with no answer yet gets 503, one whose head went out is cut, each is named in a TSPUMA_ERR_FORCED_SHUTDOWN line, and the worker exits without being killed', async () => {
    const s = await boot(['-w', '1', '--inspect=off', '-b', 'tcp://127.0.0.1:0', APP]);
    await allBooted(s);
    const res = await fetch(`${s.url}/slow?ms=30000`);
    const quiet = fetch(`${s.url}/quiet?ms=30000`);
    await waitFor(() => (s.stdout().includes('quiet request in the app') ? true : undefined), 'the quiet request in the app');
    s.proc.kill('SIGTERM');
    const first = await waitFor(() => s.lines().find((l) => /^Received SIGTERM, stopping all workers gracefully/.test(String(l.msg))), 'the first stop line');
    // The second signal comes after the repeat window (2 s), counted from the first one's line.
    await waitFor(() => (Date.now() - Number(first.time) > 2200 ? true : undefined), 'the repeat window to pass');
    s.proc.kill('SIGTERM');
    await waitFor(() => s.lines().find((l) => /^Received SIGTERM again: forcing the stop/.test(String(l.msg))), 'the forcing line');
    const answered = await quiet;
    expect(answered.status).toBe(503);
    expect(await answered.text()).toContain('GET /quiet?ms=30000 was still running when SIGTERM came a second time (a forced stop)');
    await expect(res.text()).rejects.toThrow();
    await s.exited;
    const forced = s.lines().filter((l) => l.code === 'TSPUMA_ERR_FORCED_SHUTDOWN').map((l) => String(l.msg));
    expect(forced).toContainEqual(expect.stringContaining('GET /quiet?ms=30000 was still running when SIGTERM came a second time'));
    expect(forced).toContainEqual(expect.stringContaining('GET /slow?ms=30000 was still running when SIGTERM came a second time'));
    expect(s.lines().filter((l) => /SIGKILL|killed/.test(String(l.msg)) && !/^Received SIGTERM again/.test(String(l.msg)))).toEqual([]);
  });
});
