# Reads timeline.py's OUTDIR with the run's TSPUMA_TEST_CPU_LOG and says where a quiet machine's cores
# would idle: a sample whose runnable threads (all of the run's) are fewer than the cores leaves the
# difference idle (a "deficit", in cores; summed over time, in core-seconds).
#   python3 test/accounting/timeline-report.py OUTDIR CPU_LOG [CORES=2]
# Prints the run's phases (vitest's start before the first file's setup, the files, the tail after the
# last shared file ends), the deficit of each phase, 5 s windows with the files then running, and each
# file's time with its fork's threads all waiting (no runnable thread below the fork: timers, sleeps,
# a child's boot that is not on a core), the longest first.
import json, sys

out, log = sys.argv[1], sys.argv[2]
cores = int(sys.argv[3]) if len(sys.argv) > 3 else 2
run = json.load(open(f'{out}/run.json'))
samples = [json.loads(l) for l in open(f'{out}/samples.jsonl')]
files = [json.loads(l) for l in open(log) if l.strip()]
t0 = run['startMs']
shared = [f for f in files if 'startedAt' in f and f['file'] != '(vitest main process)']
for f in shared:
    f['s'] = (f['startedAt'] - t0) / 1000
    f['e'] = (f['endedAt'] - t0) / 1000
first = min(f['s'] for f in shared)
last = max(f['e'] for f in shared)
prev = 0.0
for x in samples:
    x['dt'] = x['t'] - prev
    prev = x['t']
    x['n'] = sum(x['runnable'].values())
    x['deficit'] = max(0, cores - x['n'])


def phase(a, b):
    xs = [x for x in samples if a < x['t'] <= b]
    dt = sum(x['dt'] for x in xs) or 1
    return sum(x['deficit'] * x['dt'] for x in xs), sum(x['cpu'] * x['dt'] for x in xs), sum(x['n'] * x['dt'] for x in xs) / dt, sum(x['machine'] * x['dt'] for x in xs) / dt


total = phase(0, 1e9)
print(f"run: wall {run['wall']} s, cgroup CPU {run['cpuS']} s, status {run['status']}; {len(shared)} files logged")
print(f"whole run: deficit {total[0]:.1f} core-s of {cores * run['wall']:.0f}; run's CPU {total[1]:.1f} s; mean runnable {total[2]:.2f}; machine busy {total[3]:.0%}")
for name, a, b in (('start (to the first file\'s setup)', 0, first), ('files', first, last), ('tail (after the last file)', last, 1e9)):
    d, c, n, m = phase(a, b)
    print(f"{name}: {a:.1f}-{min(b, run['wall']):.1f} s, deficit {d:.1f} core-s, CPU {c:.1f} s, mean runnable {n:.2f}, machine {m:.0%}")

print('\n5 s windows: deficit (core-s), mean runnable, run CPU (cores); files running (fork runnable mean)')
w = 0.0
while w < run['wall']:
    xs = [x for x in samples if w < x['t'] <= w + 5]
    if xs:
        dt = sum(x['dt'] for x in xs)
        live = [f for f in shared if f['s'] < w + 5 and f['e'] > w]
        desc = []
        for f in sorted(live, key=lambda f: f['pid']):
            r = sum(x['runnable'].get(str(f['pid']), 0) * x['dt'] for x in xs if f['s'] < x['t'] <= f['e'] + 0.5) / dt
            desc.append(f"{f['file'].split('/')[-1].replace('.test.ts', '')}({r:.1f})")
        other = sum(x['runnable'].get('other', 0) * x['dt'] for x in xs) / dt
        main = sum(x['runnable'].get('main', 0) * x['dt'] for x in xs) / dt
        print(f"{w:5.0f} {sum(x['deficit'] * x['dt'] for x in xs):4.1f} {sum(x['n'] * x['dt'] for x in xs) / dt:5.2f} {sum(x['cpu'] * x['dt'] for x in xs) / dt:5.2f}  main {main:.1f} other {other:.1f} | {' '.join(desc)}")
    w += 5

print('\nfiles by time with no runnable thread below their fork (s), of their span (setup to end):')
rows = []
for f in shared:
    xs = [x for x in samples if f['s'] < x['t'] <= f['e']]
    idle = sum(min(x['dt'], x['t'] - f['s']) for x in xs if x['runnable'].get(str(f['pid']), 0) == 0)
    rows.append((idle, f['e'] - f['s'], f))
for idle, span, f in sorted(rows, key=lambda r: -r[0])[:40]:
    cpu = (f['selfMs'] + f['childrenMs'] + f['orphansMs']) / 1000
    print(f"{idle:6.1f} of {span:6.1f}  cpu {cpu:5.1f}  fork {f['pid']}  {f['s']:6.1f}-{f['e']:6.1f}  {f['file']}")
