// How a cluster's connections sit on its workers over time (bench/cluster-rounds.sh):
//   node bench/connection-split.mjs PORT MS INTERVAL PID...
// every INTERVAL ms for MS ms, how many established connections on local port PORT each PID holds
// (the ESTABLISHED inodes of /proc/net/tcp{,6} against each PID's /proc/PID/fd links: a few ms a
// sample where `ss -p` took up to a second at a load of 30); prints the samples on one line, each
// as A/B/... in the order of the PIDs.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
const [port, ms, every, ...pids] = process.argv.slice(2).map(Number);
const hex = port.toString(16).toUpperCase().padStart(4, '0');
const out = [];
const end = Date.now() + ms;
const tick = () => {
  const est = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      if (c[3] === '01' && c[1].endsWith(':' + hex)) est.add(c[9]);
    }
  }
  const counts = pids.map((pid) => {
    let n = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try { const l = readlinkSync(`/proc/${pid}/fd/${fd}`); if (l.startsWith('socket:[') && est.has(l.slice(8, -1))) n++; } catch {}
      }
    } catch {}
    return n;
  });
  out.push(counts.join('/'));
  if (Date.now() < end) setTimeout(tick, every);
  else console.log(out.join(' '));
};
tick();
