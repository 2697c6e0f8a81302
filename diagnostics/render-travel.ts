// The text of what a dump says about how its error
// travelled: the status the app answered itself, a note, where each cause was thrown, and an
// AggregateError's members with their culprit frames and values.
import type { Dump, Shown } from './model.js';
import { oneLine } from './redact.js';

function value(v: Shown): string {
  if (v !== null && typeof v === 'object') return v.summary;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const pairs = (o: Record<string, Shown>) => Object.entries(o).map(([k, v]) => `${k}=${value(v)}`).join('  ');

export function travelLines(dump: Dump): string[] {
  const lines: string[] = [];
  // With a note saying the app caught this throw in its own try, the note tells the relation.
  const cut = dump.response?.cut;
  if (cut) lines.push(`  response: cut after its head (${dump.response!.status}) and ${cut.sent}: ${cut.why}; the client has a truncated response`);
  else if (dump.response) lines.push(`  response: the app answered ${dump.response.status} itself${dump.note?.startsWith('the app answered') ? '' : ' (it, or its framework, caught this error)'}`);
  // Its request's line alone read as that request's failure; the client had its answer (review20.12).
  if (dump.unhandled) lines.push(`  unhandled: a promise nobody awaited rejected (the server kept serving${dump.request ? '; the request below started its work, and was answered as the app chose' : ''})`);
  if (dump.note) lines.push(`  note: ${oneLine(dump.note)}`);
  dump.error.causes.forEach((c, i) => {
    if (c.site) lines.push(`  cause ${i + 1} thrown at ${c.site}${c.captured ? '' : ' (no values captured)'}${dump.framesFromCause === i + 1 ? ': the frames below are its throw' : ''}`);
    if (c.fields) lines.push(`        fields: ${pairs(c.fields)}`);
    if (c.values && dump.framesFromCause !== i + 1) lines.push(`        values at its throw: ${pairs(c.values)}`);
  });
  (dump.members ?? []).forEach((m, i) => {
    const f = m.frames[m.culprit];
    lines.push(`  member ${i}: ${oneLine(`${m.error.name}: ${m.error.message}`)}${f ? ` at ${f.function}  ${f.file}:${f.line}:${f.column}` : ''}${m.captured ? '' : ' (no values captured)'}${dump.framesFromMember === i ? ': the frames below are its throw' : ''}`);
    if (m.error.fields) lines.push(`        fields: ${pairs(m.error.fields)}`);
    const locals = f ? Object.entries(f.locals) : [];
    if (locals.length > 0) lines.push(`        ${locals.map(([k, v]) => `${k}=${value(v)}`).join('  ')}`);
  });
  return lines;
}
