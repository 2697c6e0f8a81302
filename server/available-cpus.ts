// How many CPUs this process may use, for `workers: 'auto'`: what Node reports as available,
// lowered to the container's CPU quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
// `cpu.cfs_period_us`) when one is set, since a pod limited to 2 CPUs on a 64-core node would
// otherwise fork 64 workers. The files are read through an injected reader so tests can feed
// them.
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

/** A quota and period in microseconds, or null when unlimited, absent or unreadable. */
function quota(sources: CpuSources): { quota: number; period: number; file: string } | null {
  const positive = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null);
  const v2 = sources.read(CGROUP_V2_MAX);
  if (v2 !== null) {
    // "max 100000" (no limit) or "150000 100000".
    const [q, p] = v2.trim().split(/\s+/);
    const qn = positive(q);
    const pn = positive(p);
    return qn !== null && pn !== null ? { quota: qn, period: pn, file: CGROUP_V2_MAX } : null;
  }
  const q1 = sources.read(CGROUP_V1_QUOTA);
  const p1 = sources.read(CGROUP_V1_PERIOD);
  if (q1 === null || p1 === null) return null;
  // v1 says -1 for no limit.
  const qn = positive(q1.trim());
  const pn = positive(p1.trim());
  return qn !== null && pn !== null ? { quota: qn, period: pn, file: CGROUP_V1_QUOTA } : null;
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
