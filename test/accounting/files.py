# The CPU of a run by test file: every process of the run (kinds.py's records, orphans included)
# given to the file its vitest fork was running when the process (or its ancestor just below the
# fork) started, plus the fork's own CPU in that file (TSPUMA_TEST_CPU_LOG's selfMs). A fork runs
# one file at a time, so its window [endedAt - wallMs, endedAt] names the file; a process started
# before a file's beforeAll (at its imports) goes to the fork's next file. A worker reparented to
# run.py when its primary was SIGKILLed is followed through the parent run.py's poll saw first.
# Processes under vitest's main process (the isolated and one-thread projects' threads run there)
# are its own line. Run kinds.py first (it writes OUTDIR/procs-acct.json).
#   python3 test/accounting/files.py OUTDIR CPU_LOG [OUTDIR CPU_LOG ...] [--top N] [--json FILE]
import json, sys, collections, os
args = sys.argv[1:]
top = 30; out_json = None
if '--top' in args: i = args.index('--top'); top = int(args[i + 1]); del args[i:i + 2]
if '--json' in args: i = args.index('--json'); out_json = args[i + 1]; del args[i:i + 2]
clk = os.sysconf('SC_CLK_TCK')
btime0 = int([l for l in open('/proc/stat') if l.startswith('btime')][0].split()[1])
per = collections.defaultdict(lambda: {'self': 0.0, 'procs': 0.0, 'n': 0, 'tspuma': 0, 'wall': 0.0, 'kinds': collections.Counter()})
unplaced = collections.Counter()
threads = collections.Counter()
for d, log in zip(args[0::2], args[1::2]):
    run = json.load(open(os.path.join(d, 'run.json')))
    root = run['self_pid']
    recs = json.load(open(os.path.join(d, 'procs-acct.json')))
    seen = collections.defaultdict(list)  # pid -> [(start s, ppid, cmd)] as the poll saw it
    for l in open(os.path.join(d, 'procs.jsonl')):
        p = json.loads(l)
        seen[p['pid']].append((btime0 + p['start'] / clk, p['ppid'], p['cmd']))
    isfork = lambda r: 'tinypool/dist/entry/process.js' in r['cmd'] or r['comm'].startswith('node (vitest')
    mainpid = next((r['pid'] for r in recs if r['kind'] == 'vitest main'), None)
    windows = collections.defaultdict(list)  # fork pid -> [(start, end, file)]
    for l in open(log):
        x = json.loads(l)
        if x['file'] == '(vitest main process)': continue
        if x['pid'] == mainpid:  # an isolated or one-thread file: a thread of vitest's main process, whose CPU its line overlaps
            threads[x['file']] += x['selfMs'] / 1000; continue
        end = x['endedAt'] / 1000; windows[x['pid']].append((end - x['wallMs'] / 1000, end, x['file']))
        per[x['file']]['self'] += x['selfMs'] / 1000; per[x['file']]['wall'] += x['wallMs'] / 1000
    for w in windows.values(): w.sort()
    forks = set(windows)
    bypid = collections.defaultdict(list)
    for r in recs: bypid[r['pid']].append(r)
    def start_of(r):
        s = [t for (t, pp, c) in seen.get(r['pid'], []) if abs(t - r['btime']) <= 2]
        return s[0] if s else r['btime'] + 0.5
    def first_ppid(r):
        s = [pp for (t, pp, c) in seen.get(r['pid'], []) if abs(t - r['btime']) <= 2]
        return s[0] if s else r['ppid']
    def place(r):
        # walk up to the fork (or vitest main); returns (fork pid, start of the process just below it)
        a = r; hops = 0
        while hops < 50:
            hops += 1
            pp = a['ppid']
            if pp == root: pp = first_ppid(a)
            if pp in forks: return pp, start_of(a)
            if pp == mainpid: return 'main', None
            if pp == root: return None, None
            cand = [q for q in bypid.get(pp, []) if q['btime'] <= a['btime'] + 1 and q['btime'] + q['etime'] / 100 >= a['btime'] - 1]
            if not cand:
                # parent not an exited record (still alive at the end, e.g. the fork itself): the poll's
                return (pp, start_of(a)) if pp in forks else (None, None)
            a = cand[-1]
        return None, None
    for r in recs:
        if r['kind'] == 'vitest main' or isfork(r): continue
        fk, t = place(r)
        if fk == 'main':
            unplaced['under vitest main (isolated and one-thread files) ' + r['kind']] += r['cpu']; continue
        if fk is None:
            unplaced[r['kind']] += r['cpu']; continue
        f = next((file for (s, e, file) in windows[fk] if e >= t - 0.05), None)
        if f is None: unplaced['(after the fork\'s last file) ' + r['kind']] += r['cpu']; continue
        per[f]['procs'] += r['cpu']; per[f]['n'] += 1; per[f]['kinds'][r['kind']] += r['cpu']
        if r['kind'].startswith('tspuma'): per[f]['tspuma'] += 1
rows = sorted(per.items(), key=lambda kv: -(kv[1]['self'] + kv[1]['procs']))
tot = sum(v['self'] + v['procs'] for v in per.values())
print(f'files {len(rows)}, their CPU {tot:.1f} s (fork self {sum(v["self"] for v in per.values()):.1f} + processes {sum(v["procs"] for v in per.values()):.1f}); not placed {sum(unplaced.values()):.1f} s')
print('| # | file | CPU (s) | fork self (s) | processes: n, CPU (s) | tspuma processes | wall (s) | largest kinds (s) |')
print('| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |')
for i, (f, v) in enumerate(rows[:top], 1):
    ks = ', '.join(f'{k} {c:.1f}' for k, c in v['kinds'].most_common(3))
    print(f"| {i} | {f.replace('test/', '')} | {v['self'] + v['procs']:.1f} | {v['self']:.1f} | {v['n']}, {v['procs']:.1f} | {v['tspuma']} | {v['wall']:.0f} | {ks} |")
print('isolated and one-thread files (threads of vitest main; their lines overlap it):', ', '.join(f'{f.replace("test/", "")} {c:.1f}' for f, c in threads.most_common(8)))
print('not placed:', ', '.join(f'{k} {c:.1f}' for k, c in unplaced.most_common(8)))
if out_json: json.dump({f: {**v, 'kinds': dict(v['kinds'])} for f, v in per.items()}, open(out_json, 'w'), indent=0)
