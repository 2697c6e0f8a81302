// Integration: a real headless Chromium discovers `tspuma -w 2 --inspect` the way chrome://inspect
// does (Target.setRemoteLocations + setDiscoverTargets), lists the primary and both workers as
// node targets, and lists a respawned worker under the same id.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import CDP from 'chrome-remote-interface';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListEntry } from '../../inspector/discovery.js';
import { boot, discoveryUrl, killAll, ROOT } from '../helpers/cli.js';
import { waitFor, okJson } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

/** Why Chromium cannot run here, or null; decided when the file loads. */
function chromiumMissing(): string | null {
  const probe = spawnSync('chromium', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) return `chromium cannot be started (${probe.error.message}); install it with apt-get install chromium`;
  if (probe.status !== 0) return `chromium --version exited ${probe.status}: ${probe.stderr.trim().split('\n').pop() ?? ''}`;
  return null;
}
const missing = chromiumMissing();
// On CI .ci/run installs it: there a missing Chromium fails instead of skipping.
const skip = missing !== null && process.env.CI !== 'true';

let chrome: ChildProcess | null = null;
let profile: string | null = null;

afterEach(async () => {
  // Chromium's own helpers share its process group, which it leads: the group is ours to end.
  if (chrome?.pid !== undefined && chrome.exitCode === null && chrome.signalCode === null) {
    const exited = new Promise((r) => chrome!.once('exit', r));
    process.kill(-chrome.pid, 'SIGKILL');
    await exited;
  }
  chrome = null;
  if (profile) rmSync(profile, { recursive: true, force: true });
  profile = null;
  await killAll();
});

/** Launches headless Chromium on a free DevTools port; its browser target's ws:// URL. */
async function launchChromium(): Promise<string> {
  profile = tempDir('chromium');
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-port=0'];
  // TMPDIR the profile: Chromium's singleton socket folder (org.chromium.Chromium.XXXXXX), which a
  // SIGKILL leaves behind, goes with the profile.
  chrome = spawn('chromium', flags, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, TMPDIR: profile } });
  let err = '';
  chrome.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  let exit: number | null = null;
  chrome.once('exit', (code) => (exit = code ?? -1));
  return waitFor(
    () => {
      if (exit !== null) throw new Error(`chromium exited ${exit} before listening:\n${err}`);
      return /DevTools listening on (ws:\/\/\S+)/.exec(err)?.[1];
    },
    'chromium to print "DevTools listening on"',
    20_000,
  );
}

interface TargetInfo {
  targetId: string;
  type: string;
  title: string;
}

describe('chrome://inspect discovery with Chromium', () => {
  it.skipIf(skip)(`lists the primary and both workers of -w 2 as node targets, and a SIGKILLed worker's replacement under the same id${skip ? ` (skipped: ${missing})` : ''}`, async () => {
    const s = await boot(['-w', '2', '--inspect=127.0.0.1:0', '-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/apps/hello.mjs')]);
    const base = Number(new URL(await discoveryUrl(s)).port);
    const list = async () => (await okJson(await fetch(`http://127.0.0.1:${base}/json/list`), '/json/list')) as ListEntry[];
    const entries = await waitFor(async () => ((await list()).length === 3 ? list() : null), 'the primary and 2 workers listed');

    const client = await CDP({ target: await launchChromium() });
    try {
      // What Chromium shows as remote targets: the latest info per id, as chrome://inspect keeps it.
      const nodes = new Map<string, TargetInfo>();
      const seen = ({ targetInfo }: { targetInfo: TargetInfo }) => void (targetInfo.type === 'node' && nodes.set(targetInfo.targetId, targetInfo));
      client.on('Target.targetCreated', seen);
      client.on('Target.targetInfoChanged', seen);
      client.on('Target.targetDestroyed', ({ targetId }: { targetId: string }) => void nodes.delete(targetId));
      await client.send('Target.setRemoteLocations', { locations: [{ host: '127.0.0.1', port: base }] });
      await client.send('Target.setDiscoverTargets', { discover: true });

      const idOf = (e: ListEntry) => `127.0.0.1:${base}:${e.id}`;
      await waitFor(() => entries.every((e) => nodes.get(idOf(e))?.title === e.title), 'Chromium listing every process', 20_000);
      expect([...nodes.values()].map((t) => t.title).sort()).toEqual(entries.map((e) => e.title).sort());
      expect(entries.map((e) => e.title)).toEqual([expect.stringMatching(/^tspuma primary /), expect.stringMatching(/^tspuma worker 0 /), expect.stringMatching(/^tspuma worker 1 /)]);

      const old = entries.find((e) => e.id === 'tspuma-worker-1')!;
      process.kill(old.tspuma.pid, 'SIGKILL');
      const fresh = await waitFor(async () => (await list()).find((e) => e.id === 'tspuma-worker-1' && e.tspuma.pid !== old.tspuma.pid), 'worker 1 respawned', 15_000);
      // Chromium polls each location once a second and keeps a target's first info for as long as
      // its id is listed at every poll: a respawn faster than a poll keeps the old title under the
      // same id (which is what DevTools attaches to). Closing and reopening the location, as
      // reopening chrome://inspect does, reads the list afresh.
      await client.send('Target.setRemoteLocations', { locations: [] });
      await client.send('Target.setRemoteLocations', { locations: [{ host: '127.0.0.1', port: base }] });
      await waitFor(() => nodes.get(idOf(old))?.title === `tspuma worker 1 (pid ${fresh.tspuma.pid})`, 'Chromium listing the replacement under the same id', 20_000);
      expect(s.lines().some((l) => String(l.msg).startsWith('Inspector discovery refused'))).toBe(false);
    } finally {
      await client.close();
    }
  });
});
