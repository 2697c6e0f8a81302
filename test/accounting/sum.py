# The kinds of several runs (a suite's shards) summed: coarse kinds as test/README.md's table rows,
# then the fine ones.
#   python3 test/accounting/sum.py OUTDIR1 OUTDIR2 ...
import json, sys, collections, re
fine = collections.defaultdict(lambda: [0, 0.0])
for d in sys.argv[1:]:
    for k, (n, cpu) in json.load(open(d + '/agg.json')).items():
        fine[k][0] += n; fine[k][1] += cpu
def coarse(k):
    if k.startswith('tspuma, parent ended first'): return 'tspuma processes whose parent ended first (workers of a SIGKILLed primary, anything alive when a run is stopped)'
    if k.startswith('tspuma worker'): return 'tspuma workers' + (' (-d primary)' if '-d' in k else '')
    m = re.match(r'tspuma (probe|ctl|inspect|replay|dump|doctor)$', k)
    if m: return 'tspuma commands (probe, ctl, inspect, replay, dump, doctor)'
    if k.startswith('tspuma'):
        d = ' -d' in k
        w = re.search(r'-w(\d+)', k)
        if w and w.group(1) != '0': return 'tspuma cluster primaries' + (' -d' if d else '')
        return 'tspuma single mode' + (' -d' if d else '')
    if k.startswith('other:') or k.startswith('node (other)'):
        under = re.search(r'\[under (.*)\]$', k)
        return 'other processes (under ' + (under.group(1) if under else '?') + ')'
    return k
c = collections.defaultdict(lambda: [0, 0.0])
for k, (n, cpu) in fine.items():
    c[coarse(k)][0] += n; c[coarse(k)][1] += cpu
tot = sum(v[1] for v in c.values())
print(f'total {tot:.1f} s')
for k, v in sorted(c.items(), key=lambda kv: -kv[1][1]): print(f'| {k} | {v[0]} | {v[1]:.1f} | {100*v[1]/tot:.1f} % |')
print()
for k, v in sorted(fine.items(), key=lambda kv: -kv[1][1])[:60]: print(f'{v[1]:8.2f} {v[0]:5d} {k}')
