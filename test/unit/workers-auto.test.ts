// workers: 'auto': available CPUs capped by the cgroup CPU quota (v2 cpu.max, v1 cfs quota over
// period), read through injected file contents; and how options, flags and WEB_CONCURRENCY take it.
import { describe, expect, it } from 'vitest';
import { availableCpus, CGROUP_V1_PERIOD, CGROUP_V1_QUOTA, CGROUP_V2_MAX, type CpuSources } from '../../server/available-cpus.js';
import { argsLayer, envLayer, parseArgs } from '../../server/cli/args.js';
import { TspumaError } from '../../server/errors.js';
import { resolveOptions } from '../../server/options.js';

const machine = (cpus: number, files: Record<string, string>): CpuSources => ({ parallelism: () => cpus, read: (path) => files[path] ?? null });

describe('availableCpus', () => {
  it('is the available parallelism when no cgroup file can be read', () => {
    expect(availableCpus(machine(8, {}))).toEqual({ count: 8, how: 'auto: 8 available CPU(s), no cgroup CPU quota' });
  });

  it('takes a cgroup v2 quota rounded up: 150000/100000 on 8 CPUs is 2', () => {
    const r = availableCpus(machine(8, { [CGROUP_V2_MAX]: '150000 100000\n' }));
    expect(r.count).toBe(2);
    expect(r.how).toBe('auto: cgroup quota 150000/100000 = 1.5 CPU(s) in /sys/fs/cgroup/cpu.max, rounded up; 8 CPU(s) available');
  });

  it('treats cgroup v2 "max" as no quota, and a quota above the CPUs as allowing them all', () => {
    expect(availableCpus(machine(4, { [CGROUP_V2_MAX]: 'max 100000\n' })).count).toBe(4);
    const wide = availableCpus(machine(4, { [CGROUP_V2_MAX]: '1600000 100000' }));
    expect(wide.count).toBe(4);
    expect(wide.how).toContain('allows as many');
  });

  it('reads cgroup v1 quota over period, with -1 meaning no quota', () => {
    expect(availableCpus(machine(16, { [CGROUP_V1_QUOTA]: '300000\n', [CGROUP_V1_PERIOD]: '100000\n' })).count).toBe(3);
    expect(availableCpus(machine(16, { [CGROUP_V1_QUOTA]: '-1\n', [CGROUP_V1_PERIOD]: '100000\n' })).count).toBe(16);
  });

  it('never says fewer than 1, for a tiny quota or a parallelism of 0', () => {
    expect(availableCpus(machine(8, { [CGROUP_V2_MAX]: '1000 100000' })).count).toBe(1);
    expect(availableCpus(machine(0, {})).count).toBe(1);
  });

  it("reads a quota on the process's own nested cgroup v2 (systemd CPUQuota= on its service) through /proc/self/cgroup", () => {
    const r = availableCpus(machine(8, { '/proc/self/cgroup': '0::/system.slice/web.service\n', '/sys/fs/cgroup/system.slice/web.service/cpu.max': '200000 100000\n', '/sys/fs/cgroup/system.slice/cpu.max': 'max 100000\n', [CGROUP_V2_MAX]: 'max 100000\n' }));
    expect(r).toEqual({ count: 2, how: 'auto: cgroup quota 200000/100000 = 2 CPU(s) in /sys/fs/cgroup/system.slice/web.service/cpu.max, rounded up; 8 CPU(s) available' });
  });

  it('takes the tightest quota on the way from the cgroup up to the root (a slice limits every service in it)', () => {
    const files = { '/proc/self/cgroup': '0::/app.slice/web.service\n', '/sys/fs/cgroup/app.slice/web.service/cpu.max': '400000 100000', '/sys/fs/cgroup/app.slice/cpu.max': '150000 100000', [CGROUP_V2_MAX]: 'max 100000' };
    expect(availableCpus(machine(8, files)).how).toContain('150000/100000 = 1.5 CPU(s) in /sys/fs/cgroup/app.slice/cpu.max');
    expect(availableCpus(machine(8, files)).count).toBe(2);
  });

  it('reads a nested cgroup v1 cpu controller path from /proc/self/cgroup', () => {
    const r = availableCpus(machine(16, { '/proc/self/cgroup': '4:memory:/x\n3:cpu,cpuacct:/system.slice/web.service\n', '/sys/fs/cgroup/cpu,cpuacct/system.slice/web.service/cpu.cfs_quota_us': '300000\n', '/sys/fs/cgroup/cpu,cpuacct/system.slice/web.service/cpu.cfs_period_us': '100000\n' }));
    expect(r.count).toBe(3);
    expect(r.how).toContain('in /sys/fs/cgroup/cpu,cpuacct/system.slice/web.service/cpu.cfs_quota_us');
  });

  it('ignores a malformed cpu.max instead of failing', () => {
    expect(availableCpus(machine(3, { [CGROUP_V2_MAX]: 'garbage' })).count).toBe(3);
  });
});

describe("workers: 'auto'", () => {
  const system = { cpus: () => ({ count: 3, how: 'auto: test machine' }) };

  it('resolves from WEB_CONCURRENCY=auto, -w auto and a config file to the injected count, with how', () => {
    const env = resolveOptions([envLayer({ WEB_CONCURRENCY: 'auto' })], system);
    expect(env.workers).toBe(3);
    expect(env.workersAuto).toBe('auto: test machine');
    expect(resolveOptions([argsLayer(parseArgs(['-w', 'auto'], 'command line'), 'command line')], system).workers).toBe(3);
    expect(resolveOptions([{ source: 'config file c.ts', values: { workers: 'auto' }, fromString: false }], system).workers).toBe(3);
  });

  it('leaves a number as given, with no auto note', () => {
    const o = resolveOptions([envLayer({ WEB_CONCURRENCY: '2' })], system);
    expect(o.workers).toBe(2);
    expect(o.workersAuto).toBeNull();
  });

  it('refuses another word with the expected values and where it came from', () => {
    let err: unknown;
    try {
      resolveOptions([envLayer({ WEB_CONCURRENCY: 'many' })], system);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect((err as TspumaError).message).toMatch(/WEB_CONCURRENCY.*"many"|"many".*WEB_CONCURRENCY/);
    expect((err as TspumaError).message).toContain("'auto'");
  });
});
