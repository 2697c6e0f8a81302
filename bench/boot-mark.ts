// Loaded with `node --import` (NODE_OPTIONS) by bench/boot-cpu.ts in every process of a server it
// boots, workers included: on SIGWINCH (or, with BOOT_MARK_AT_EXIT=1, a client command such as
// `tspuma ctl stats`, at exit), writes this process's CPU so far (process.cpuUsage(): user and
// system microseconds of every thread, live or ended, since the process started) to
// $BOOT_MARK_DIR/<pid>.json. /proc's ticks count in 10 ms steps; a boot is a few of them.
import { writeFileSync } from 'node:fs';

const dir = process.env.BOOT_MARK_DIR;
const mark = () => {
  const { user, system } = process.cpuUsage();
  writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify({ pid: process.pid, ppid: process.ppid, cpuMs: (user + system) / 1000 }));
};
if (dir && process.env.BOOT_MARK_AT_EXIT === '1') process.on('exit', mark);
else if (dir) process.on('SIGWINCH', mark);
