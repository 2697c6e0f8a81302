# Runs a command (a vitest run) as a child subreaper, so that a process whose parent dies (a cluster's
# workers after a SIGKILLed primary) is reparented to this one and stays in the run's tree, reaps
# everything, and polls /proc every 25 ms for the command line of each new process (accounting
# records only a 15-character name, and a node thread's at that). Writes OUTDIR/procs.jsonl and
# OUTDIR/run.json (its pid, the wall time, the CPU of all it reaped). It ignores SIGINT and SIGTERM
# itself (a timeout's or ^C's reaches the child through the process group), so it still writes them.
#   python3 test/accounting/run.py OUTDIR node node_modules/vitest/vitest.mjs run [args]
# The poll itself costs 1-2 % of a core (7.2 s in 570 s at a load of 25: the table's 'python' line).
import ctypes, os, sys, json, threading, time
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
out = sys.argv[1]; cmd = sys.argv[2:]
os.makedirs(out, exist_ok=True)
assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
seen = {}
stop = False
f = open(os.path.join(out, 'procs.jsonl'), 'w')
def poll():
    info = {}  # pid -> [first seen, reads, last read]
    while not stop:
        now = time.time()
        names = [n for n in os.listdir('/proc') if n.isdigit()]
        for name in names:
            p = int(name)
            i = info.get(p)
            if i is not None and (i[1] >= 3 or now - i[2] < 0.1): continue
            try:
                st = open(f'/proc/{name}/stat').read()
                rest = st[st.rindex(')') + 2:].split(' ')
                start = int(rest[19])
                if i is not None and i[3] != start: i = None
                cl = open(f'/proc/{name}/cmdline', 'rb').read().replace(b'\0', b' ').decode('utf8', 'replace').strip()
                if i is None: i = info[p] = [now, 0, now, start, None]
                i[1] += 1; i[2] = now
                if i[4] == cl: continue
                i[4] = cl
                f.write(json.dumps({'pid': p, 'ppid': int(rest[1]), 'start': start, 'comm': st[st.index('(') + 1:st.rindex(')')], 'cmd': cl[:400]}) + '\n')
            except Exception:
                pass
        live = set(int(n) for n in names)
        for p in [p for p in info if p not in live]: del info[p]
        time.sleep(0.025)
t = threading.Thread(target=poll, daemon=True); t.start()
t0 = time.time()
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
rc = None
while True:
    try:
        p, status = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if p == pid:
        rc = os.waitstatus_to_exitcode(status)
        wall = time.time() - t0
        # reap stragglers for at most 5 s more
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                q, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if q == 0: time.sleep(0.05)
        break
stop = True; t.join(); f.close()
ru = os.times()
json.dump({'rc': rc, 'wall': wall, 'children_user': ru.children_user, 'children_sys': ru.children_system, 'self_pid': os.getpid()}, open(os.path.join(out, 'run.json'), 'w'))
print('rc', rc, 'wall', round(wall, 1), 'cpu', round(ru.children_user + ru.children_system, 1))
sys.exit(rc or 0)
