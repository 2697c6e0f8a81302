// `tspuma inspect list|stack|profile|heap`: reads a running tspuma's inspector discovery
// (/json/list) and attaches to the chosen process (inspector/remote.ts).
// `list` loads this module, errors and node:http only: the attaching client (remote.ts, its
// dump rendering, chrome-remote-interface) is imported by the commands that attach, the config
// file's reader only when no --url or -S says where the server is (issue 31: `inspect list` loaded
// 31 of tspuma's modules, the options registry among them, for one GET).
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { resolve, sep } from 'node:path';
import type { ListEntry } from '../../inspector/discovery.js';
import type { RemoteTarget } from '../../inspector/remote.js';
import { TspumaError } from '../errors.js';
import { stateFileProblem } from './control-client.js';
import { DEFAULT_INSPECT } from '../option-checks.js';

const COMMANDS = ['list', 'stack', 'profile', 'heap'] as const;
type Command = (typeof COMMANDS)[number];

export const USAGE = 'usage: tspuma inspect list|stack|profile|heap [--worker N | --pid P] [--url http://HOST:PORT | -S STATEFILE] [--seconds S] [--out FILE] [--json] [--timeout MS]';

function usage(problem: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}; ${USAGE}`, source: 'command line' });
}

interface InspectArgs {
  command: Command;
  url: string;
  urlSource: string;
  /** The state file's contents, when the address came from one. */
  state: ServerState | null;
  worker: number | null;
  pid: number | null;
  seconds: number;
  out: string | null;
  json: boolean;
  timeoutMs: number;
  /** --timeout was given (else timeoutMs is the default). */
  timeoutGiven: boolean;
}

function positiveInt(flag: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min) usage(`${flag} must be an integer of at least ${min}; got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** What a state file (-S) says about a server; the fields `tspuma inspect` reads. */
interface ServerState {
  pid?: unknown;
  app?: unknown;
  running_from?: unknown;
  inspect_url?: unknown;
}

function readState(file: string): ServerState {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServerState;
  } catch (err) {
    return usage(stateFileProblem(file, err));
  }
}

export function parseInspectArgs(args: string[]): InspectArgs & { explicitUrl: string | null; stateFile: string | null } {
  const command = args[0] as Command;
  if (!(COMMANDS as readonly string[]).includes(command)) usage(`COMMAND must be one of ${COMMANDS.join(', ')}${args[0] ? `; got ${JSON.stringify(args[0])}` : ''}`);
  const out: InspectArgs = { command, url: `http://${DEFAULT_INSPECT.host}:${DEFAULT_INSPECT.port}`, urlSource: 'the default', state: null, worker: null, pid: null, seconds: 10, out: null, json: false, timeoutMs: 2000, timeoutGiven: false };
  let state: string | null = null;
  let url: string | null = null;
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i] ?? usage(`${a} needs a value`);
    if (a === '--worker' || a === '-w') out.worker = positiveInt(a, value(), 0);
    else if (a === '--pid') out.pid = positiveInt(a, value(), 1);
    else if (a === '--url') url = value();
    else if (a === '-S' || a === '--state') state = value();
    else if (a === '--seconds') out.seconds = positiveInt(a, value(), 1);
    else if (a === '--out' || a === '-o') out.out = value();
    else if (a === '--json') out.json = true;
    else if (a === '--timeout') {
      out.timeoutMs = positiveInt(a, value(), 1);
      out.timeoutGiven = true;
    }
    else usage(`unknown argument ${a}`);
  }
  if (out.worker !== null && out.pid !== null) usage('give --worker or --pid, not both');
  if (url !== null && !/^http:\/\/[^/]+\/*$/.test(url)) usage(`--url must look like http://127.0.0.1:9229; got ${JSON.stringify(url)}`);
  return { ...out, explicitUrl: url === null ? null : url.replace(/\/+$/, ''), stateFile: state };
}

/**
 * Where the server is: --url; else -S FILE; else the state file the config file in this
 * directory names (as the server itself finds its config); else the default address.
 */
export async function locateServer(a: ReturnType<typeof parseInspectArgs>, cwd = process.cwd()): Promise<InspectArgs> {
  if (a.explicitUrl !== null) return { ...a, url: a.explicitUrl, urlSource: '--url' };
  let file = a.stateFile === null ? null : resolve(cwd, a.stateFile);
  let source = `state file ${a.stateFile}`;
  let fromConfig = false;
  if (file === null) {
    const { findConfig, loadConfig } = await import('../config-file.js');
    const config = findConfig(undefined, 'the current directory', cwd);
    const named = config ? (await loadConfig(config)).values.state : undefined;
    if (typeof named === 'string' && named !== '') {
      file = resolve(cwd, named);
      source = `state file ${named} (named by ${config})`;
      fromConfig = true;
      if (!existsSync(file)) return { ...a, urlSource: `the default (no state file ${file}: is the server of this directory running?)` };
    }
  }
  if (file === null) return a;
  const state = readState(file);
  if (typeof state.inspect_url !== 'string' || !/^http:\/\/[^/]+$/.test(state.inspect_url)) {
    if (fromConfig) return { ...a, urlSource: `the default (${file} has no inspect_url: the server runs without --inspect or --debug)` };
    return usage(`state file ${a.stateFile} has no inspect_url: the server runs without --inspect or --debug`);
  }
  return { ...a, url: state.inspect_url, urlSource: source, state };
}

/**
 * How long `tspuma inspect` waits for discovery's whole answer without --timeout (discovery answers
 * from its own thread at once; a primary paused, stopped or starved of CPU does not). --timeout, when
 * given, bounds this read as it bounds the attach.
 */
export const LIST_TIMEOUT_MS = 5000;
/** A list of a few hundred processes is well under this; more is not a tspuma discovery. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;

/**
 * GETs url and parses its body as JSON; rejects with what happened, in words. node:http, not
 * fetch: Node 20's fetch never settles when a server accepts the connection and closes it
 * without answering, and the timer behind AbortSignal.timeout keeps no process alive, so the
 * command used to end with exit code 0 and no output. node:http reports that close; the timer
 * here is referenced while the request is out, so a server that never answers ends too.
 */
export function getJson(url: string, timeoutMs: number, bound?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    /** What came back so far, for the timeout's message. */
    let received = 'nothing came back';
    const finish = (err: Error | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const req = get(url, { agent: false, headers: { accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        finish(new Error(`it answered HTTP ${res.statusCode ?? '?'}, not 200`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      received = 'the head of an answer came back, no body';
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        received = `the head and ${size} bytes of the body came back`;
        if (size > MAX_LIST_BYTES) finish(new Error(`its answer is larger than ${MAX_LIST_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          finish(null, JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          finish(new Error('its answer is not JSON'));
        }
      });
      res.on('close', () => finish(new Error(`the server closed the connection in the middle of its answer (${size} bytes read)`)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(new Error(describeFailure(err))));
    timer = setTimeout(() => finish(Object.assign(new Error(`no complete answer within ${timeoutMs} ms (${bound ? `${bound}; ` : ''}${received}; the connection is still open)`), { code: 'TIMEOUT' })), timeoutMs);
  });
}

/** A request error in words, with its code. */
function describeFailure(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused: nothing listens there (ECONNREFUSED)';
    case 'ECONNRESET':
      // node:http's "socket hang up": closed before any byte of an answer.
      return 'the server accepted the connection and closed it without answering (ECONNRESET)';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return `it does not speak HTTP (${err.code})`;
    default:
      return err.code ? `${err.message} (${err.code})` : err.message;
  }
}

/** Reads discovery's list, within --timeout when given, else `defaultMs`. */
export async function readList(a: InspectArgs, defaultMs = LIST_TIMEOUT_MS): Promise<ListEntry[]> {
  const hint = 'Is tspuma running with --inspect or --debug? Its boot lines print the discovery address.';
  const fail = (message: string, why = hint) => new TspumaError('TSPUMA_ERR_INSPECT_DISCOVERY', { url: `${a.url}/json/list`, source: a.urlSource, message, hint: why });
  const ms = a.timeoutGiven ? a.timeoutMs : defaultMs;
  const bound = a.timeoutGiven ? 'from --timeout; a larger one waits longer' : `the default; \`tspuma inspect ${a.command} --timeout MS\` waits longer`;
  let entries: unknown;
  try {
    entries = await getJson(`${a.url}/json/list`, ms, bound);
  } catch (err) {
    // Something listens there and took the request: the usual hint (start it with --inspect) is not the answer.
    if ((err as { code?: string }).code === 'TIMEOUT') throw fail((err as Error).message, 'The server accepted the connection and sent no whole answer: a tspuma whose primary is paused in a debugger, stopped (SIGSTOP) or busy, or another server on that port.');
    throw fail((err as Error).message);
  }
  if (!Array.isArray(entries) || entries.some((e: Partial<ListEntry> | null) => typeof e?.tspuma !== 'object' || e.tspuma === null)) throw fail('the answer is not a tspuma inspector list');
  return entries as ListEntry[];
}

function choose(a: InspectArgs, entries: ListEntry[]): RemoteTarget {
  let entry: ListEntry | undefined;
  let wanted: string;
  if (a.pid !== null) {
    wanted = `pid ${a.pid}`;
    entry = entries.find((e) => e.tspuma.pid === a.pid);
  } else if (a.worker !== null) {
    wanted = `worker ${a.worker}`;
    entry = entries.find((e) => e.tspuma.worker === a.worker);
  } else {
    // Default: the process that serves requests (worker 0 in cluster mode, else the only one).
    wanted = 'worker 0 or a single process';
    entry = entries.find((e) => e.tspuma.worker === 0) ?? (entries.length === 1 ? entries[0] : undefined);
  }
  if (!entry) throw new TspumaError('TSPUMA_ERR_INSPECT_TARGET', { wanted, url: `${a.url}/json/list`, available: entries.map((e) => e.title).join(', ') || 'none' });
  return { title: entry.title, ws: entry.webSocketDebuggerUrl, worker: entry.tspuma.worker, pid: entry.tspuma.pid };
}

function table(entries: ListEntry[]): string {
  const rows = [['ID', 'PID', 'WORKER', 'TITLE', 'DEVTOOLS']];
  for (const e of entries) rows.push([e.id, String(e.tspuma.pid), e.tspuma.worker === null ? '-' : String(e.tspuma.worker), e.title, e.devtoolsFrontendUrl]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');

/**
 * Which server answered: its main process (pid, app, cwd) and how its address was found. A
 * server found at the default address that runs from another directory than `cwd` (nor one of
 * its parents) is pointed out: it may well be another project's, this one's having fallen back
 * to another discovery port.
 */
export function serverLine(a: InspectArgs, entries: ListEntry[], here = process.cwd()): string {
  const main = entries.find((e) => e.tspuma.worker === null);
  const pid = main?.tspuma.pid ?? (typeof a.state?.pid === 'number' ? a.state.pid : null);
  const cwd = main?.url.startsWith('file://') ? main.url.slice('file://'.length) : typeof a.state?.running_from === 'string' ? a.state.running_from : null;
  const sameServer = a.state !== null && a.state.pid === pid;
  const app = sameServer && typeof a.state?.app === 'string' ? a.state.app : null;
  const stale = a.state !== null && !sameServer ? `; the state file names pid ${String(a.state.pid)}, which is not this server` : '';
  const guessed = a.urlSource.startsWith('the default');
  const elsewhere = guessed && cwd !== null && here !== cwd && !here.startsWith(cwd.endsWith(sep) ? cwd : `${cwd}${sep}`)
    ? `; NOTE: it runs from ${cwd}, not from this directory (${here}); for this directory's server give -S STATEFILE or --url (its boot log prints the discovery address)`
    : '';
  return `tspuma server pid ${pid ?? '?'}, app ${app ?? '(not known without its state file)'}, cwd ${cwd ?? '?'}, at ${a.url} (from ${a.urlSource})${stale}${elsewhere}`;
}

export async function inspect(args: string[]): Promise<number> {
  const a = await locateServer(parseInspectArgs(args));
  const entries = await readList(a);
  if (a.command === 'list') {
    // With --json stdout stays pure JSON: the server line goes to stderr.
    if (a.json) process.stderr.write(`${serverLine(a, entries)}\n`);
    process.stdout.write(a.json ? `${JSON.stringify(entries, null, 2)}\n` : `${serverLine(a, entries)}\n${table(entries)}\n`);
    return 0;
  }
  process.stderr.write(`${serverLine(a, entries)}\n`);
  const target = choose(a, entries);
  // Attaching (and pausing, for a stack) is bounded by --timeout, for profile and heap too.
  const bound = { timeoutMs: a.timeoutMs, raise: a.timeoutGiven ? 'from --timeout; a larger one waits longer' : `the default; \`tspuma inspect ${a.command} --timeout MS\` waits longer` };
  const [{ cpuProfile, heapSnapshot, liveStackDump }, { renderText }, { writeFileSafely }] = await Promise.all([import('../../inspector/remote.js'), import('../../diagnostics/render.js'), import('../private-file.js')]);
  switch (a.command) {
    case 'stack': {
      const dump = await liveStackDump(target, bound);
      process.stdout.write(a.json ? `${JSON.stringify(dump, null, 2)}\n` : `${renderText(dump, process.stdout.isTTY === true, { valuesElsewhere: '`tspuma inspect stack --json` prints them' })}\n`);
      return 0;
    }
    case 'profile': {
      const path = resolve(a.out ?? `tspuma-${target.worker ?? 'main'}-${stamp()}.cpuprofile`);
      process.stderr.write(`tspuma: profiling ${target.title} for ${a.seconds} s...\n`);
      const { profile, stats } = await cpuProfile(target, a.seconds, bound);
      // Whole or not at all (temporary file + rename): a full disk leaves nothing at the path (N12).
      writeFileSafely(path, JSON.stringify(profile), { what: 'CPU profile' });
      process.stderr.write(`tspuma: ${stats.mapped} of ${profile.nodes.length} call frames mapped to their source${stats.droppedTicks > 0 ? `; ${stats.droppedTicks} line tick(s) dropped (a generated line that spans several source lines)` : ''}\n`);
      process.stdout.write(`${path}\n`);
      return 0;
    }
    case 'heap': {
      const path = resolve(a.out ?? `tspuma-${target.worker ?? 'main'}-${stamp()}.heapsnapshot`);
      const bytes = await heapSnapshot(target, path, bound);
      process.stderr.write(`tspuma: heap snapshot of ${target.title}: ${Math.round(bytes / 1048576)} MiB\n`);
      process.stdout.write(`${path}\n`);
      return 0;
    }
    default: {
      const never: never = a.command;
      return usage(`unknown command ${String(never)}`);
    }
  }
}
