// Rendering: a Dump as text in topaz's
// spirit, signal first: the app's frames (and the culprit) in full with receiver fields and
// locals, the culprit's source line with a caret, tspuma's and node's frames one line each.
import type { Dump, DumpFrame, Shown } from './model.js';
import { originOf } from './finish.js';
import { oneLine } from './redact.js';
import { travelLines } from './render-travel.js'; // capture/attribution's lines (render-travel.ts)

/** Under a captured dump's awaiting caller (its line from the stack text, no values). */
export const AWAITING_SNAPSHOT = "        (awaiting here when the probe stopped: V8 pauses with the frames that were running only, so an awaiting caller's values are not known; its line is from the async stack)";
export const AWAITING = "        (awaiting here at the throw: V8 pauses with the frames that were running only, so an awaiting caller's values are not known; its line is from the error's stack)";

const C = { red: '\x1b[31m', bold: '\x1b[1m', dim: '\x1b[2m', cyan: '\x1b[36m', reset: '\x1b[0m' };

export interface RenderOptions {
  /** Every frame in full, tspuma's and node's too (`tspuma dump --all-frames`). */
  allFrames?: boolean;
  /**
   * Where the values of the frames shown on one line are: the dump's .json file (its path), none
   * (null: no dump folder, or the file could not be written), or, when not given, the .json beside
   * the .txt this text is written to.
   */
  valuesFile?: string | null;
  /** Where else the values are, said instead ("`tspuma inspect stack --json` prints them"): a text with no file. */
  valuesElsewhere?: string;
}

/** The line under a dump that says where the values of its one-line frames are. */
function hiddenHint(count: number, whose: string, file: string | null | undefined, elsewhere?: string): string {
  const head = `(${count} frame(s) of ${whose} shown without their values: `;
  if (elsewhere !== undefined) return `${head}${elsewhere})`;
  if (file === undefined) return `${head}the .json file beside this one has them; \`tspuma dump --all-frames FILE.json\` prints them)`;
  if (file === null) return `${head}no dump file was written; with a dump folder (TSPUMA_DUMP_DIR or dumpDir) its .json file keeps them)`;
  return `${head}${file} has them; \`tspuma dump --all-frames ${file}\` prints them)`;
}

function value(v: Shown): string {
  if (v !== null && typeof v === 'object') return v.summary;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const pairs = (o: Record<string, Shown>) => Object.entries(o).map(([k, v]) => (k === '…' ? `… ${value(v)}` : `${k}=${value(v)}`));

function isStackOverflow(dump: Dump): boolean {
  return dump.error.name === 'RangeError' && dump.error.message.includes('Maximum call stack size exceeded');
}

/** "walk calls itself": the frame (or block) that repeats most, and how many frames the stack text held. */
function overflowLine(dump: Dump): string {
  const held = dump.frames.reduce((n, f) => n + (f.repeat ?? 1) * (f.cycle ?? 1), 0) - dump.frames.reduce((n, f) => n + ((f.cycle ?? 1) - 1), 0);
  const top = dump.frames.filter((f) => f.repeat).sort((a, b) => b.repeat! * (b.cycle ?? 1) - a.repeat! * (a.cycle ?? 1))[0];
  const which = top
    ? top.cycle
      ? `${top.function} and the ${top.cycle - 1} frame(s) after it repeat ×${top.repeat}`
      : `${top.function} calls itself (×${top.repeat})`
    : 'no frame repeats in what was kept';
  return `  stack overflow: ${which}. The stack text keeps only Error.stackTraceLimit frames (${held} here), so the real depth is larger; V8 does not pause on a stack overflow, so no values were captured.`;
}

/** The source line and a caret under the column, as TypeScript and V8 print them. */
function sourceLines(f: DumpFrame, c: (code: keyof typeof C, s: string) => string): string[] {
  if (!f.source) return [];
  const n = String(f.line);
  const pad = ' '.repeat(n.length);
  // Tabs stay tabs in the gutter under them, so the caret lines up however they are shown.
  const under = f.source.text.slice(0, f.source.column - 1).replace(/[^\t]/g, ' ');
  return [`        ${n} | ${f.source.text}`, `        ${pad} | ${under}${c('red', '^')}`];
}

/** Whose code a run of frames is, as one line says it: packages by name, then tspuma and node. */
function owners(frames: readonly DumpFrame[]): string {
  const names = new Set<string>();
  for (const f of frames) {
    const origin = f.origin ?? originOf(f.file);
    if (origin === 'dependency') {
      const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(f.file);
      names.add(m ? m[1]!.replace('\\', '/') : 'dependencies');
    } else names.add(origin === 'node' ? 'node' : origin);
  }
  return [...names].join(', ');
}

/**
 * The redactions, counted per rule and name (`local password ×3`), not one entry per place: the
 * JSON keeps every place. Where a rule applied once, the place is kept (`header authorization`).
 */
export function redactionSummary(list: readonly string[]): string {
  const counts = new Map<string, { n: number; first: string }>();
  for (const r of list) {
    const rule = r.replace(/ \(.*\)$/, '').replace(/ of member \d+$/, '');
    const known = counts.get(rule);
    if (known) known.n++;
    else counts.set(rule, { n: 1, first: r });
  }
  return [...counts.entries()].map(([rule, { n, first }]) => (n === 1 ? first : `${rule} ×${n}`)).join('; ');
}

/** Consecutive frames shown one line each are folded into one line from this many on. */
const FOLD_RUN = 3;

export function renderText(dump: Dump, colour = false, opts: RenderOptions = {}): string {
  const c = (code: keyof typeof C, s: string) => (colour ? `${C[code]}${s}${C.reset}` : s);
  const e = dump.error;
  const lines: string[] = [];
  // The error's own text may quote a client's input: escaped, so it stays on this line.
  lines.push(c('bold', `tspuma dump #${dump.id} [${dump.phase}] ${oneLine(`${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`)}`));
  lines.push(`  pid ${dump.pid}${dump.worker === null ? '' : `, worker ${dump.worker}`}, ${dump.time}, node ${dump.process.node}, rss ${Math.round(dump.process.rssBytes / 1048576)} MiB, uptime ${dump.process.uptimeSeconds} s`);
  if (e.fields) lines.push(`  error fields: ${pairs(e.fields).join('  ')}`);
  for (const cause of e.causes) lines.push(`  caused by ${oneLine(`${cause.name}: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`)}`);
  lines.push(...travelLines(dump)); // capture/attribution's lines (render-travel.ts)
  if (dump.request) lines.push(`  request: ${dump.request.method} ${dump.request.url} (id ${dump.request.id}${dump.request.remote ? `, from ${dump.request.remote}` : ''})`);
  if (dump.trace) lines.push(`  trace: trace_id=${dump.trace.trace_id} span_id=${dump.trace.span_id}`);
  for (const r of dump.inFlight ?? []) lines.push(`  in flight: ${r.method} ${r.url} for ${(r.ms / 1000).toFixed(1)} s`);
  if (dump.context) lines.push(`  at the call: ${Object.entries(dump.context).map(([k, v]) => `${k}=${value(v)}`).join(' ')}`);
  if (isStackOverflow(dump)) lines.push(overflowLine(dump));
  if (dump.idle && dump.frames.length === 0) lines.push('  frames: none, the process is idle in its event loop (no JavaScript running; requests in flight are awaiting I/O or promises)');
  else if (dump.idle) lines.push(`  frames: the process was idle in its event loop; these are its next callback, paused ${dump.pauseWaitMs ?? '?'} ms after asking:`);
  else if (dump.frames.length > 0) lines.push(`  frames${dump.captured ? '' : ' (from the stack: no values were captured for this one)'}:`);
  const hidden: DumpFrame[] = [];
  // A failure in tspuma's own code (a bad option, a listen error) shows tspuma's frames as it shows an app's.
  const culprit = dump.frames[dump.culprit];
  const own = culprit ? (culprit.origin ?? originOf(culprit.file)) : 'app';
  const isFull = (f: DumpFrame) => {
    if (opts.allFrames || f.culprit) return true;
    const origin = f.origin ?? originOf(f.file);
    return origin === 'app' || (own === 'tspuma' && origin === 'tspuma');
  };
  dump.frames.forEach((f, i) => {
    const origin = f.origin ?? originOf(f.file);
    const full = isFull(f);
    const mark = f.culprit ? '>' : ' ';
    const times = f.repeat ? `  ×${f.repeat.toLocaleString('en-US')}${f.cycle ? ` (with the next ${f.cycle - 1} frame(s))` : ''}` : '';
    if (!full) {
      // One line: where it is and whose code it is; its values stay in the .json file.
      if (Object.keys(f.locals).length > 0 || (f.receiverFields && Object.keys(f.receiverFields).length > 0)) hidden.push(f);
      // A run of such frames (a framework's router, tspuma's and node's dispatch) is one line.
      const prevFolded = i > 0 && !isFull(dump.frames[i - 1]!);
      let end = i;
      while (end + 1 < dump.frames.length && !isFull(dump.frames[end + 1]!)) end++;
      if (prevFolded) {
        let start = i;
        while (start > 0 && !isFull(dump.frames[start - 1]!)) start--;
        if (end - start + 1 >= FOLD_RUN) return; // said by the run's first frame
      } else if (end - i + 1 >= FOLD_RUN) {
        const run = dump.frames.slice(i, end + 1);
        lines.push(c('dim', `    #${i}-#${end} ${run.length} frames in ${owners(run)}: ${f.function}  ${f.file}:${f.line}:${f.column} and below`));
        return;
      }
      lines.push(c('dim', `  ${mark} #${i} ${f.function}  ${f.file}:${f.line}:${f.column}${times}  (${origin})`));
      return;
    }
    const head = `  ${mark} #${i} ${f.function}  ${f.file}:${f.line}:${f.column}${times}${f.receiver !== 'undefined' ? `  receiver ${f.receiver}` : ''}`;
    lines.push(f.culprit ? c('red', head) : f.library ? c('dim', head) : head);
    if (f.receiverFields && Object.keys(f.receiverFields).length > 0) lines.push(`        this: ${pairs(f.receiverFields).join('  ')}`);
    const locals = pairs(f.locals);
    if (locals.length > 0) lines.push(`        ${locals.join('  ')}`);
    // An awaiting caller, from the stack text: not "no locals", but none known.
    else if (dump.captured && f.function.startsWith('async ') && origin === 'app') lines.push(c('dim', dump.kind === 'snapshot' ? AWAITING_SNAPSHOT : AWAITING));
    lines.push(...sourceLines(f, c));
  });
  if (hidden.length > 0) lines.push(c('dim', `  ${hiddenHint(hidden.length, owners(hidden), opts.valuesFile, opts.valuesElsewhere)}`));
  if (dump.redactions.length > 0) lines.push(c('cyan', `  redacted: ${redactionSummary(dump.redactions)}`));
  return lines.join('\n');
}
