// Created by sinks.ts, the 500 page and `tspuma dump`; renders a Dump as text in topaz's
// spirit: one frame per line with its receiver and locals, the culprit marked.
import type { Dump, Shown } from './model.js';
import { travelLines } from './render-travel.js'; // capture/attribution's lines (render-travel.ts)

const C = { red: '\x1b[31m', bold: '\x1b[1m', dim: '\x1b[2m', cyan: '\x1b[36m', reset: '\x1b[0m' };

function value(v: Shown): string {
  if (v !== null && typeof v === 'object') return v.summary;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function renderText(dump: Dump, colour = false): string {
  const c = (code: keyof typeof C, s: string) => (colour ? `${C[code]}${s}${C.reset}` : s);
  const e = dump.error;
  const lines: string[] = [];
  lines.push(c('bold', `tspuma dump #${dump.id} [${dump.phase}] ${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`));
  lines.push(`  pid ${dump.pid}${dump.worker === null ? '' : `, worker ${dump.worker}`}, ${dump.time}, node ${dump.process.node}, rss ${Math.round(dump.process.rssBytes / 1048576)} MiB, uptime ${dump.process.uptimeSeconds} s`);
  for (const cause of e.causes) lines.push(`  caused by ${cause.name}: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`);
  lines.push(...travelLines(dump)); // capture/attribution's lines (render-travel.ts)
  if (dump.request) lines.push(`  request: ${dump.request.method} ${dump.request.url}`);
  for (const r of dump.inFlight ?? []) lines.push(`  in flight: ${r.method} ${r.url} for ${(r.ms / 1000).toFixed(1)} s`);
  if (dump.context) lines.push(`  at the call: ${Object.entries(dump.context).map(([k, v]) => `${k}=${value(v)}`).join(' ')}`);
  if (dump.idle && dump.frames.length === 0) lines.push('  frames: none, the process is idle in its event loop (no JavaScript running; requests in flight are awaiting I/O or promises)');
  else if (dump.idle) lines.push(`  frames: the process was idle in its event loop; these are its next callback, paused ${dump.pauseWaitMs ?? '?'} ms after asking:`);
  else lines.push(`  frames${dump.captured ? '' : ' (from the stack: no values were captured for this one)'}:`);
  dump.frames.forEach((f, i) => {
    const mark = f.culprit ? '>' : ' ';
    const head = `  ${mark} #${i} ${f.function}  ${f.file}:${f.line}:${f.column}${f.receiver !== 'undefined' ? `  receiver ${f.receiver}` : ''}`;
    lines.push(f.culprit ? c('red', head) : f.library ? c('dim', head) : head);
    const locals = Object.entries(f.locals);
    if (locals.length > 0) lines.push(`        ${locals.map(([k, v]) => `${k}=${value(v)}`).join('  ')}`);
  });
  if (dump.redactions.length > 0) lines.push(c('cyan', `  redacted: ${dump.redactions.join('; ')}`));
  return lines.join('\n');
}

