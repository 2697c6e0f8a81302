# The CPU of a run's processes by kind (vitest main, forks, tspuma single/cluster/-d/commands and
# workers, esbuild, npm, chromium, nginx...), from an accounting file (acct.py) and run.py's OUTDIR:
# each record is linked to its parent record, kept when its chain reaches run.py, and named from
# the command line run.py saw. Prints the table; writes OUTDIR/agg.json and OUTDIR/procs-acct.json.
#   python3 test/accounting/kinds.py /tmp/NAME.acct OUTDIR
# Accounting's CPU is in 10 ms ticks, truncated: about -5 ms a process.
import struct, sys, json, os, re, collections
acctf, out = sys.argv[1], sys.argv[2]
run = json.load(open(os.path.join(out, 'run.json')))
root = run['self_pid']
def comp(v):
    return (v & 0x1fff) << (3 * (v >> 13))
recs = []
data = open(acctf, 'rb').read()
for i in range(0, len(data) - 63, 64):
    flag, ver, tty, exitcode, uid, gid, pid, ppid, btime, etime, ut, st, mem, io, rw, minflt, majflt, swaps, comm = struct.unpack('<BBHIIIIIIfHHHHHHHH16s', data[i:i+64])
    if ver != 3: continue
    recs.append(dict(i=len(recs), pid=pid, ppid=ppid, btime=btime, etime=etime, cpu=(comp(ut) + comp(st)) / 100.0, comm=comm.split(b'\0')[0].decode('utf8', 'replace'), flag=flag))
bootbtime = int([l for l in open('/proc/stat') if l.startswith('btime')][0].split()[1])
cmds = collections.defaultdict(list)
for l in open(os.path.join(out, 'procs.jsonl')):
    p = json.loads(l)
    cmds[p['pid']].append((bootbtime + p['start'] / 100.0, p['cmd'], p['ppid']))
# parent of each record: the first record of pid==ppid that ends after it (records are in exit order)
bypid = collections.defaultdict(list)
for r in recs: bypid[r['pid']].append(r)
def parent(r):
    for q in bypid.get(r['ppid'], []):
        if q['i'] > r['i'] and q['btime'] <= r['btime'] + 1: return q
    return None
rootrec = None
for r in recs:
    r['parent'] = parent(r)
inrun = []
for r in recs:
    a = r; chain = []
    while a is not None and a['pid'] != root:
        chain.append(a); a = a['parent']
    if a is not None or r['ppid'] == root:
        r['chain'] = chain
        inrun.append(r)
def cmdof(r):
    best = None
    for (t, c, pp) in cmds.get(r['pid'], []):
        if abs(t - r['btime']) <= 2: best = c if best is None or len(c) > 0 else best
        # prefer the first argv seen that is not the title: take all, keep one with cli.js or the first
    cs = [c for (t, c, pp) in cmds.get(r['pid'], []) if abs(t - r['btime']) <= 2]
    for c in cs:
        if 'cli.js' in c: return c
    return cs[-1] if cs else ''
def kind(r):
    c = cmdof(r); comm = r['comm']
    r['cmd'] = c
    par = r['parent']
    if par is not None and par['pid'] == root or r['ppid'] == root:
        if 'vitest' in c and 'forks' not in c: return 'vitest main'
    if ('tinypool' in c or c.startswith('node (vitest')) and par is not None and par.get('kind') == 'vitest main' and comm == 'node': return 'vitest fork'
    istspuma = comm.startswith('tspuma') or 'dist/server/cli.js' in c or '/.bin/tspuma' in c
    pk0 = par.get('kind', '') if par else ''
    primary = pk0.startswith('tspuma') and not re.match(r'tspuma (probe|ctl|inspect|replay|dump|doctor)$', pk0) and 'worker' not in pk0
    if istspuma and r['ppid'] == root: return 'tspuma, parent ended first'
    if 'ipc-guard.cjs' in c or comm.startswith('tspuma worker') or c.startswith('tspuma worker') or (istspuma and primary):
        pk = par.get('kind', '') if par else ''
        return 'tspuma worker' + (' (-d primary)' if ' -d' in pk else '')
    if '/.bin/tspuma' in c:
        c = c.replace('/.bin/tspuma', '/.bin/tspuma cli.js', 1)
    if comm.startswith('tspuma') or 'dist/server/cli.js' in c or '/.bin/tspuma cli.js' in c:
        args = c.split('cli.js', 1)[1].split() if 'cli.js' in c else []
        sub = next((a for a in args if a in ('probe', 'ctl', 'inspect', 'replay', 'dump', 'doctor')), None)
        if sub: return f'tspuma {sub}'
        d = ' -d' if ('-d' in args or '--debug' in args) else ''
        w = None
        for j, a in enumerate(args):
            if a in ('-w', '--workers') and j + 1 < len(args): w = args[j + 1]
            m = re.match(r'^(?:-w|--workers=)(\d+)$', a)
            if m: w = m.group(1)
        ext = next((os.path.splitext(a)[1] for a in reversed(args) if re.search(r'\.(m?[jt]sx?|c[jt]s)$', a)), '')
        if not c: return 'tspuma (argv not seen)' + (' cluster' if 'cluster' in comm else '')
        mode = f' -w{w}' if w not in (None,) else ''
        return f'tspuma{d}{mode} {ext or "(no app arg)"}'
    if comm == 'node' and ('forks.js' in c or 'vitest' in c): return 'vitest fork'
    if 'tsx' in c and comm in ('node',): return 'tsx (node)'
    if comm == 'esbuild': return 'esbuild'
    if 'npm-cli' in c or comm == 'npm' or c.startswith('npm ') or '/npm ' in c or '/npx ' in c: return 'npm ' + (c.split('npm ', 1)[1].split() or ['?'])[0] if 'npm ' in c else 'npm/npx'
    if 'clinic' in c: return 'clinic (node)'
    for k in ('chrom', 'nginx', 'haproxy', 'tsgo', 'python', 'systemd', 'valgrind', 'callgrind', 'git', 'tar', 'sh', 'bash', 'curl', 'gzip'):
        if comm.startswith(k): return k
    if comm == 'node': return 'node (other): ' + ' '.join(c.split()[1:3])[:80]
    return 'other: ' + comm
# kinds, parents first (exit order is children first; sort by chain length)
for r in sorted(inrun, key=lambda r: len(r['chain']), reverse=False):
    r['kind'] = kind(r)
agg = collections.defaultdict(lambda: [0, 0.0])
for r in inrun:
    k = r['kind']
    if k.startswith('node (other)') or k.startswith('other'):
        # under what
        a = r['parent']
        while a is not None and (a['kind'].startswith('node (other)') or a['kind'].startswith('other') or a['kind'] in ('sh', 'bash')): a = a['parent']
        k = k + ' [under ' + (a['kind'] if a else '?') + ']'
    agg[k][0] += 1; agg[k][1] += r['cpu']
tot = sum(v[1] for v in agg.values())
print(f"processes {len(inrun)}, CPU {tot:.1f} s (run.py saw {run['children_user'] + run['children_sys']:.1f} s), wall {run['wall']:.1f} s")
for k, v in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"{v[1]:8.2f} s {v[0]:5d}  {v[1]/max(v[0],1)*1000:7.0f} ms/proc  {k}")
json.dump({k: v for k, v in agg.items()}, open(os.path.join(out, 'agg.json'), 'w'))
json.dump([{k: r[k] for k in ('pid', 'ppid', 'comm', 'cpu', 'kind', 'cmd', 'btime', 'etime')} for r in inrun], open(os.path.join(out, 'procs-acct.json'), 'w'))
