// Whether a process runs, by its pid (signal 0): what ctl, the inspector client, the dump budget
// and the pidfile check ask. EPERM means it runs as another user.

/** True while `pid` runs (as any user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves true once `pid` is gone, false if it still runs `ms` later (checked every 20 ms). */
export async function processExits(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
