# Workers that outlive their primary in a run: polls /proc every 0.2 s while a command runs (a
# vitest run) and writes one JSON line per tspuma cluster worker (node:cluster's NODE_UNIQUE_ID) to
# OUTDIR/workers.jsonl: its pid, the spawn tag it inherited (SUITE_SPAWN=FORKPID-N, test/helpers/
# cli.ts), its primary (its first parent), when it was first seen, when its primary went (its parent
# changed: the kernel reparents an orphan at once) and when it ended (gone, or a zombie), with its
# CPU (utime+stime, ms) at each, and its state when last seen. A worker whose primary went and which
# lived on is an orphan: `afterMs` is how long it outlived the primary, `cpuAfterMs` what it spent
# meanwhile (to the last sample: up to 0.2 s of it is missed). With the run's TSPUMA_TEST_CPU_LOG,
# orphans-report.py names the file each one came from.
#   python3 test/accounting/orphans.py OUTDIR COMMAND...
import json, os, subprocess, sys, time

out = sys.argv[1]
cmd = sys.argv[2:]
os.makedirs(out, exist_ok=True)
TICK_MS = 1000 / os.sysconf('SC_CLK_TCK')
EVERY_S = 0.2


def stat(pid):
    """(state, ppid, cpu ms, start ticks) of pid, or None when it is gone."""
    try:
        st = open(f'/proc/{pid}/stat').read()
    except OSError:
        return None
    f = st[st.rindex(')') + 2:].split(' ')
    return f[0], int(f[1]), (int(f[11]) + int(f[12])) * TICK_MS, int(f[19])


def cmdline(pid):
    try:
        return open(f'/proc/{pid}/cmdline', 'rb').read().decode('latin1')
    except OSError:
        return ''


def environ(pid):
    try:
        return dict(kv.split(b'=', 1) for kv in open(f'/proc/{pid}/environ', 'rb').read().split(b'\0') if b'=' in kv)
    except OSError:
        return {}


workers = {}  # (pid, start ticks) -> record
seen = set()  # (pid, start ticks) already looked at (workers or not)
log = open(f'{out}/workers.jsonl', 'w')
t0 = time.time()
child = subprocess.Popen(cmd)


def now_ms():
    return round(time.time() * 1000)


def finish(key, w, state):
    w['endedAt'] = now_ms()
    w['lastState'] = state
    if w.get('orphanedAt'):
        w['afterMs'] = w['endedAt'] - w['orphanedAt']
        w['cpuAfterMs'] = round(w['cpuLast'] - w['cpuAtOrphaned'])
    log.write(json.dumps(w) + '\n')
    log.flush()
    del workers[key]


polls, max_gap, last = 0, 0.0, time.time()
while True:
    done = child.poll() is not None
    polls += 1
    max_gap, last = max(max_gap, time.time() - last), time.time()
    live = set()
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        pid = int(name)
        s = stat(pid)
        if s is None:
            continue
        state, ppid, cpu, start = s
        key = (pid, start)
        live.add(key)
        if key not in seen:
            seen.add(key)
            # A cluster worker: node:cluster's NODE_UNIQUE_ID in the environment it was started
            # with, the CLI's script on its command line (its title, `tspuma worker N`, later).
            # (A worker first seen after it set its title, on a loaded machine, has the title.)
            line = cmdline(pid)
            if 'dist/server/cli.js' in line or line.startswith('tspuma worker'):
                env = environ(pid)
                if b'NODE_UNIQUE_ID' in env:
                    tag = env.get(b'SUITE_SPAWN')
                    workers[key] = {'pid': pid, 'tag': tag.decode() if tag else None, 'primary': ppid, 'firstSeenAt': now_ms(), 'cpuFirst': round(cpu)}
        w = workers.get(key)
        if w is None:
            continue
        w['cpuLast'] = cpu
        if ppid != w['primary'] and 'orphanedAt' not in w:
            w['orphanedAt'] = now_ms()
            w['cpuAtOrphaned'] = round(cpu)
            w['newParent'] = ppid
        # A zombie has ended (this machine's init reaps reparented ones a second or two late).
        if state in ('Z', 'X'):
            finish(key, w, state)
            continue
        w['state'] = state
    for key in [k for k in workers if k not in live]:
        finish(key, workers[key], workers[key].get('state', '?'))
    seen &= live | set(workers)
    if done:
        break
    time.sleep(EVERY_S)
for key in list(workers):
    w = workers[key]
    w['aliveAtEnd'] = True
    finish(key, w, w.get('state', '?'))
# maxGapMs: the longest time between two samples (a loaded machine stretches them past EVERY_S).
json.dump({'startedAt': round(t0 * 1000), 'wallMs': now_ms() - round(t0 * 1000), 'rc': child.returncode, 'polls': polls, 'maxGapMs': round(max_gap * 1000)}, open(f'{out}/run.json', 'w'))
sys.exit(child.returncode)
