// How many CPUs this process may use, for `workers: 'auto'`: what Node reports as available,
// lowered to the container's CPU quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
// `cpu.cfs_period_us`) when one is set, since a pod limited to 2 CPUs on a 64-core node would
// otherwise fork 64 workers. The process's own cgroup (/proc/self/cgroup) and each one above it
// are read, so a quota set on a nested cgroup (systemd's CPUQuota= on the service) counts too.
// The files are read through an injected reader so tests can feed them.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuSources {
  /** os.availableParallelism(). */
  readonly parallelism: () => number;
  /** A file's text, or null when it cannot be read (absent, no permission). */
  readonly read: (path: string) => string | null;
}

export interface CpuCount {
  /** At least 1. */
  readonly count: number;
  /** How the count was found, for the boot line. */
  readonly how: string;
}

export const CGROUP_V2_MAX = '/sys/fs/cgroup/cpu.max';
export const CGROUP_V1_QUOTA = '/sys/fs/cgroup/cpu/cpu.cfs_quota_us';
export const CGROUP_V1_PERIOD = '/sys/fs/cgroup/cpu/cpu.cfs_period_us';

const readOrNull = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

export const SYSTEM_CPU_SOURCES: CpuSources = { parallelism: availableParallelism, read: readOrNull };

type Quota = { quota: number; period: number; file: string };

const positive = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null);

/** `dir` and each folder above it up to `root`, deepest first; just `root` for "/" or no path. */
function upTo(root: string, path: string | null): string[] {
  const parts = (path ?? '').split('/').filter((p) => p && p !== '.' && p !== '..');
  const out: string[] = [];
  for (let n = parts.length; n >= 0; n--) out.push(n === 0 ? root : `${root}/${parts.slice(0, n).join('/')}`);
  return out;
}

/**
 * The process's own cgroup, from /proc/self/cgroup: the v2 path (`0::/system.slice/web.service`)
 * and the v1 cpu controller's (`3:cpu,cpuacct:/...`, with the controllers naming its mount).
 */
function ownCgroup(sources: CpuSources): { v2: string | null; v1: { mount: string; path: string } | null } {
  const text = sources.read('/proc/self/cgroup') ?? '';
  let v2: string | null = null;
  let v1: { mount: string; path: string } | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else if (m[2]!.split(',').includes('cpu')) v1 = { mount: `/sys/fs/cgroup/${m[2]}`, path: m[3]! };
  }
  return { v2, v1 };
}

function v2Quota(sources: CpuSources, file: string): Quota | null {
  const text = sources.read(file);
  if (text === null) return null;
  // "max 100000" (no limit) or "150000 100000".
  const [q, p] = text.trim().split(/\s+/);
  const qn = positive(q);
  const pn = positive(p);
  return qn !== null && pn !== null ? { quota: qn, period: pn, file } : null;
}

function v1Quota(sources: CpuSources, quotaFile: string, periodFile: string): Quota | null {
  const q = sources.read(quotaFile);
  const p = sources.read(periodFile);
  if (q === null || p === null) return null;
  // v1 says -1 for no limit.
  const qn = positive(q.trim());
  const pn = positive(p.trim());
  return qn !== null && pn !== null ? { quota: qn, period: pn, file: quotaFile } : null;
}

/**
 * The tightest quota between the process's cgroup and the root: a quota on the service's own
 * cgroup (systemd `CPUQuota=`, a nested container) or on any slice above it limits the process,
 * and inside a container's cgroup namespace the path is `/` and the root files are its own. Null
 * when unlimited, absent or unreadable.
 */
function quota(sources: CpuSources): Quota | null {
  const own = ownCgroup(sources);
  const found: Quota[] = [];
  for (const dir of upTo('/sys/fs/cgroup', own.v2)) {
    const q = v2Quota(sources, dir === '/sys/fs/cgroup' ? CGROUP_V2_MAX : `${dir}/cpu.max`);
    if (q) found.push(q);
  }
  if (found.length === 0) {
    const v1Dirs = own.v1 ? upTo(own.v1.mount, own.v1.path) : [];
    for (const dir of v1Dirs) {
      const q = v1Quota(sources, `${dir}/cpu.cfs_quota_us`, `${dir}/cpu.cfs_period_us`);
      if (q) found.push(q);
    }
    const root = v1Quota(sources, CGROUP_V1_QUOTA, CGROUP_V1_PERIOD);
    if (root) found.push(root);
  }
  return found.reduce<Quota | null>((min, q) => (min === null || q.quota / q.period < min.quota / min.period ? q : min), null);
}

/** The worker count `auto` means: available CPUs, capped by the cgroup quota rounded up, at least 1. */
export function availableCpus(sources: CpuSources = SYSTEM_CPU_SOURCES): CpuCount {
  const cpus = Math.max(1, Math.floor(sources.parallelism()));
  const limit = quota(sources);
  if (!limit) return { count: cpus, how: `auto: ${cpus} available CPU(s), no cgroup CPU quota` };
  const allowed = Math.max(1, Math.ceil(limit.quota / limit.period));
  const shown = `${limit.quota}/${limit.period} = ${+(limit.quota / limit.period).toFixed(2)} CPU(s) in ${limit.file}`;
  if (allowed >= cpus) return { count: cpus, how: `auto: ${cpus} available CPU(s); cgroup quota ${shown} allows as many` };
  return { count: allowed, how: `auto: cgroup quota ${shown}, rounded up; ${cpus} CPU(s) available` };
}
