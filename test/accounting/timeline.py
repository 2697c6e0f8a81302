# A run's timeline: where the cores it could use are idle. Runs a command (a vitest run) in a cpuacct
# cgroup of its own (cgroup v1, root) and every 0.5 s writes one line to OUTDIR/samples.jsonl: the
# seconds since the start (t), the run's CPU in that interval in cores (cpu: its processes', orphans
# included: they stay in the cgroup), how many of its threads were runnable at the sample (runnable:
# state R, running or waiting for a core; by vitest fork, 'main' for vitest's process, 'other' for
# processes reparented away from their fork), and the machine's busy share of its cores (machine: every
# process's, the other developers' too). On a loaded machine `cpu` says what the run got; `runnable`
# says what it asked for, which is what a quiet machine would have run: a second whose runnable count
# stays under the core count is one where a quiet run leaves a core idle, whatever the load.
#   python3 test/accounting/timeline.py OUTDIR COMMAND...
# With SHARES=N (cgroup v1's cpu controller, root): the run also goes in a cpu cgroup of its own with
# cpu.shares N (1024 is a process's; at most 262144). With the machine's other work in the root group,
# a large N gives the run the cores whenever it asks for them: a loaded machine's wall time then comes
# close to a quiet one's (the others get what the run leaves). Hold bench.lock as well: it slows every
# wall-clock measurement under way.
# Writes OUTDIR/run.json (start as epoch ms, wall, the cgroup's CPU, the exit status). Joined with the
# run's TSPUMA_TEST_CPU_LOG (each file's startedAt, endedAt and pid) by timeline-report.py.
import json, os, signal, subprocess, sys, time

out = sys.argv[1]
cmd = sys.argv[2:]
os.makedirs(out, exist_ok=True)
cg = f'/sys/fs/cgroup/cpuacct/timeline-{os.getpid()}'
os.mkdir(cg)
shares = os.environ.get('SHARES')
cpu_cg = f'/sys/fs/cgroup/cpu/timeline-{os.getpid()}' if shares else None
if cpu_cg:
    os.mkdir(cpu_cg)
    open(f'{cpu_cg}/cpu.shares', 'w').write(shares)
    # This process too (not in the cpuacct group: its CPU is not the run's), or a loaded machine leaves
    # seconds between its samples.
    open(f'{cpu_cg}/cgroup.procs', 'w').write(str(os.getpid()))
usage = lambda: int(open(f'{cg}/cpuacct.usage').read())
ncpu = os.cpu_count() or 1


def machine_busy():
    f = open('/proc/stat').readline().split()[1:]
    v = list(map(int, f))
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def parent(pid):
    st = open(f'/proc/{pid}/stat').read()
    return int(st[st.rindex(')') + 2:].split(' ')[1])


def runnable(top):
    """Runnable threads by where they are: 'main' (the command's process and its threads), the pid of the
    command's child they are below (a vitest fork: its file's processes), or 'other' (reparented away)."""
    by = {}
    for tid in open(f'{cg}/tasks').read().split():
        try:
            st = open(f'/proc/{tid}/stat').read()
            if st[st.rindex(')') + 2] != 'R': continue
            pid = int(open(f'/proc/{tid}/status').read().split('Tgid:')[1].split()[0])
            key = 'other'
            for _ in range(64):
                if pid == top: key = 'main'; break
                pp = parent(pid)
                if pp == top: key = str(pid); break
                if pp <= 1: break
                pid = pp
            by[key] = by.get(key, 0) + 1
        except (OSError, ValueError, IndexError):
            pass  # gone between the listing and the read
    return by


start = time.time()


def enter():
    for g in (cg, cpu_cg):
        if g: open(f'{g}/cgroup.procs', 'w').write(str(os.getpid()))


child = subprocess.Popen(cmd, preexec_fn=enter)
# A timeout's or ^C's signal reaches the command through the process group; this one waits for it to end
# and still writes run.json and removes its cgroups (set after the start: an ignored signal is inherited).
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
samples = open(os.path.join(out, 'samples.jsonl'), 'w')
last_u, last_t, (last_b, last_all) = usage(), time.time(), machine_busy()
while child.poll() is None:
    time.sleep(0.5)
    u, t, (b, a) = usage(), time.time(), machine_busy()
    samples.write(json.dumps({'t': round(t - start, 2), 'cpu': round((u - last_u) / 1e9 / (t - last_t), 3), 'runnable': runnable(child.pid), 'machine': round((b - last_b) / max(1, a - last_all), 3)}) + '\n')
    last_u, last_t, last_b, last_all = u, t, b, a
status = child.wait()
# Orphans the run left (a test's leak) keep the cgroup; its CPU is read now, what they do later is not counted.
json.dump({'startMs': round(start * 1000), 'shares': shares, 'wall': round(time.time() - start, 2), 'cpuS': round(usage() / 1e9, 2), 'status': status, 'cmd': cmd}, open(os.path.join(out, 'run.json'), 'w'))
samples.close()
if cpu_cg: open('/sys/fs/cgroup/cpu/cgroup.procs', 'w').write(str(os.getpid()))
for g in (cg, cpu_cg):
    try:
        if g: os.rmdir(g)
    except OSError:
        print(f'{g}: processes of the run are still in it', file=sys.stderr)
sys.exit(status)
