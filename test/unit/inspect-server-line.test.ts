// Unit: the line `tspuma inspect` starts with says which server answered, and points out a
// server found at the default address that runs from another directory than the one asking.
import { describe, expect, it } from 'vitest';
import type { ListEntry } from '../../inspector/discovery.js';
import { parseInspectArgs, serverLine } from '../../server/cli/inspect.js';

/** The primary's entry of a server running from `cwd` (pid 100) with its worker 0 (pid 101). */
function entries(cwd: string): ListEntry[] {
  const entry = (pid: number, worker: number | null) => ({ id: worker === null ? 'tspuma-primary' : `tspuma-worker-${worker}`, url: `file://${cwd}`, title: `t${pid}`, tspuma: { pid, worker, direct: '' } }) as unknown as ListEntry;
  return [entry(100, null), entry(101, 0)];
}

describe('serverLine', () => {
  const defaults = parseInspectArgs(['list']);

  it('found at the default address, a server of another directory: the line names both directories and how to reach this one', () => {
    const line = serverLine(defaults, entries('/srv/other'), '/srv/mine');
    expect(line).toBe(
      'tspuma server pid 100, app (not known without its state file), cwd /srv/other, at http://127.0.0.1:9229 (from the default)' +
        '; NOTE: it runs from /srv/other, not from this directory (/srv/mine); for this directory\'s server give -S STATEFILE or --url (its boot log prints the discovery address)',
    );
  });

  it('found at the default address, a server of this directory or a parent of it: no note', () => {
    expect(serverLine(defaults, entries('/srv/mine'), '/srv/mine')).not.toContain('NOTE');
    expect(serverLine(defaults, entries('/srv/mine'), '/srv/mine/src')).not.toContain('NOTE');
    // A sibling whose name starts the same is another directory.
    expect(serverLine(defaults, entries('/srv/mine'), '/srv/mine2')).toContain('NOTE: it runs from /srv/mine, not from this directory (/srv/mine2)');
  });

  it('an address the user gave (--url): no note, whichever directory the server runs from', () => {
    const given = { ...defaults, urlSource: '--url' };
    expect(serverLine(given, entries('/srv/other'), '/srv/mine')).toBe('tspuma server pid 100, app (not known without its state file), cwd /srv/other, at http://127.0.0.1:9229 (from --url)');
  });
});
