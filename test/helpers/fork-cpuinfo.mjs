// Preloaded in each vitest fork (vitest.config.ts, forks' execArgv): tinypool, imported by vitest's
// fork entry for its workerId, counts the physical cores at import with two shell pipelines,
// `cat /proc/cpuinfo | grep "physical id"|"core id" | sort | uniq | wc -l` (execSync: 6 processes
// each, about 45 ms of CPU a pipeline at load; findings tests21.1). A fork never uses the figure
// (only the main process sizes its pools). These two commands are answered here, in-process, with
// the same count (unique matching lines of /proc/cpuinfo); every other execSync runs as before.
import childProcess from 'node:child_process';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const PIPELINE = /^cat \/proc\/cpuinfo \| grep "(physical id|core id)" \| sort \| ?uniq \| wc -l$/;
const plain = childProcess.execSync;
childProcess.execSync = function execSync(command, options) {
  const m = typeof command === 'string' ? PIPELINE.exec(command) : null;
  if (m === null) return plain.call(this, command, options);
  const count = new Set(readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.includes(m[1]))).size;
  const out = `${count}\n`;
  return options?.encoding && options.encoding !== 'buffer' ? out : Buffer.from(out);
};
syncBuiltinESMExports();
