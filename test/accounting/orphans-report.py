# Which test files' cluster workers outlived their primary, how long and at what CPU: joins
# orphans.py's OUTDIR/workers.jsonl with the run's TSPUMA_TEST_CPU_LOG (each file's fork pid,
# startedAt and endedAt) by the worker's spawn tag (FORKPID-N) and the time it was first seen.
#   python3 test/accounting/orphans-report.py OUTDIR CPU_LOG [MIN_AFTER_MS]
# A worker counts as an orphan when it lived MIN_AFTER_MS (default 300) or more past its primary:
# below that its primary and it ended together (test/helpers/cli.ts's kill SIGKILLs both at once).
# Also sums every worker's whole CPU by file: what each-file.ts logs as orphansMs (the CPU of the
# workers below a SIGKILLed primary, read before the kill) is mostly that, not time after a primary.
import json, sys
from collections import defaultdict

out, cpu_log = sys.argv[1], sys.argv[2]
min_after = int(sys.argv[3]) if len(sys.argv) > 3 else 300
workers = [json.loads(l) for l in open(f'{out}/workers.jsonl')]
files = [json.loads(l) for l in open(cpu_log) if '"file"' in l]
by_fork = defaultdict(list)
for f in files:
    by_fork[f['pid']].append(f)


def file_of(w):
    if not w.get('tag'):
        return '(no tag: not the suite\'s)'
    fork = int(w['tag'].split('-')[0])
    # The file running in its fork when it was first seen; else the one that ended last before
    # (a worker first seen late, on a loaded machine, after its file's afterAll began).
    before = None
    for f in sorted(by_fork.get(fork, []), key=lambda f: f['endedAt']):
        if f.get('startedAt', 0) <= w['firstSeenAt'] <= f['endedAt']:
            return f['file'].split('/test/')[-1]
        if f['endedAt'] < w['firstSeenAt']:
            before = f
    return before['file'].split('/test/')[-1] + ' (ended before)' if before else f'(fork {fork}, no file then)'


rows = defaultdict(lambda: {'workers': 0, 'cpuMs': 0, 'orphans': 0, 'afterMs': [], 'cpuAfterMs': 0, 'states': defaultdict(int), 'orphansMs': 0})
for f in files:
    rows[f['file'].split('/test/')[-1]]['orphansMs'] += f.get('orphansMs', 0)
for w in workers:
    r = rows[file_of(w)]
    r['workers'] += 1
    r['cpuMs'] += w.get('cpuLast', 0)
    if w.get('afterMs', 0) >= min_after or w.get('aliveAtEnd'):
        r['orphans'] += 1
        r['afterMs'].append(w.get('afterMs', -1))
        r['cpuAfterMs'] += w.get('cpuAfterMs', 0)
        r['states'][w.get('lastState', '?')] += 1

total = {k: sum(r[k] for r in rows.values()) for k in ('workers', 'cpuMs', 'orphans', 'cpuAfterMs', 'orphansMs')}
print(f"workers {total['workers']}, their CPU {total['cpuMs'] / 1000:.1f} s; orphaned {min_after} ms or more: {total['orphans']}, their CPU after the primary {total['cpuAfterMs'] / 1000:.1f} s; each-file orphansMs {total['orphansMs'] / 1000:.1f} s")
print(f"{'file':58} {'wkrs':>4} {'cpu s':>6} {'orphMs s':>8} {'orph':>4} {'cpuAfter s':>10}  after ms (each)")
for name, r in sorted(rows.items(), key=lambda kv: -(kv[1]['cpuAfterMs'] + sum(kv[1]['afterMs']) / 100)):
    if r['workers'] == 0 and r['orphansMs'] == 0:
        continue
    if r['orphans'] == 0 and r['cpuMs'] < 1000 and r['orphansMs'] < 1000:
        continue
    print(f"{name[:58]:58} {r['workers']:4} {r['cpuMs'] / 1000:6.1f} {r['orphansMs'] / 1000:8.1f} {r['orphans']:4} {r['cpuAfterMs'] / 1000:10.2f}  {' '.join(str(a) for a in sorted(r['afterMs'], reverse=True)[:12])}")
