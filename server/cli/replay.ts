// `tspuma replay DUMP.json`: sends a dumped request again to a (development) server, after
// setting a probe at the dump's culprit line in every worker for that request only (its fresh
// X-Request-Id): a worker with a debugger attached through discovery stops there, paused, with
// the same request; with none attached, a snapshot probe writes a fresh snapshot beside the old
// dump. What cannot be restored (redacted headers, a body not captured or redacted) is said.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import type { Dump } from '../../diagnostics/model.js';
import { REDACTED } from '../../diagnostics/redact.js';
import type { ListEntry } from '../../inspector/discovery.js';
import { parseDuration, type ProbeRequest } from '../probe-spec.js';
import type { ProbeView } from '../cluster/probe-registry.js';
import { TspumaError } from '../errors.js';
import { controlFlags, controlRequest, controlTarget, whoAmI } from './control-client.js';
import { armed, DEFAULT_TIMEOUT_S, timeoutFrom, type ProbeOutput } from './probe.js';

export const USAGE = 'usage: tspuma replay DUMP.json [--url http://HOST:PORT] [--inspect-url http://HOST:PORT] [--for DURATION] [--timeout SECONDS] [--body FILE] [--path PATH] [--header \'NAME: VALUE\']... [--force] (--control-url URL --control-token TOKEN | -S STATEFILE)';

/** Headers a client sets for its own connection, never replayed. */
const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect', 'x-request-id']);

function usage(problem: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}; ${USAGE}`, source: 'command line' });
}

const replayError = (dump: string, problem: string) => new TspumaError('TSPUMA_ERR_REPLAY', { dump, problem });

/** The request to send again, and what of the original could not be restored. */
export interface Replayed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
  /** Not restored, said and sent without (a redacted header: the app may answer 401, nothing else changes). */
  missing: string[];
  /**
   * Not restored where sending anyway makes it another request (its body, part of its URL): the
   * app would run with other values (a charge of `undefined`). Refused unless given or --force.
   */
  changed: string[];
}

/** What the user gives back of what the dump could not keep (--body FILE's text, --path, --header). */
export interface Restored {
  body?: string;
  path?: string;
  headers?: Record<string, string>;
}

export function replayedRequest(dump: Dump, requestId: string, given: Restored = {}): Replayed {
  const r = dump.request!;
  const headers: Record<string, string> = {};
  const missing: string[] = [];
  const changed: string[] = [];
  const givenHeaders = Object.fromEntries(Object.entries(given.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, value] of Object.entries(r.headers)) {
    const lower = name.toLowerCase();
    if (HOP.has(lower) || givenHeaders[lower] !== undefined) continue;
    if (value.includes(REDACTED)) missing.push(`header ${lower} (redacted in the dump; give it with --header '${lower}: VALUE')`);
    else headers[lower] = value;
  }
  Object.assign(headers, givenHeaders);
  const path = given.path ?? r.url;
  if (path.includes(REDACTED)) changed.push(`part of the URL (redacted in the dump: ${r.url}); give the path and query to send with --path`);
  let body: string | null = given.body ?? null;
  const declared = r.headers['content-length'] !== undefined && r.headers['content-length'] !== '0';
  const chunked = /chunked/i.test(r.headers['transfer-encoding'] ?? '');
  if (given.body === undefined) {
    if (r.body) {
      if (r.body.text.includes(REDACTED)) changed.push('the body (a value in it was redacted in the dump); give the body to send with --body FILE');
      else body = r.body.text;
      if (body !== null && r.body.type === 'json') headers['content-type'] ??= 'application/json';
    } else if (declared || chunked) changed.push(`the body (${r.headers['content-length'] ?? 'chunked'} bytes; the app's framework had not parsed it into req.body, so the dump has none); give it with --body FILE`);
  }
  // Sent without its body (--force), it does not claim a type for one.
  if (body === null) delete headers['content-type'];
  headers['x-request-id'] = requestId;
  headers['x-tspuma-replay-of'] = r.id;
  return { method: r.method, path, headers, body, missing, changed };
}

/** Discovery's id of a single-mode server's inspector. */
const SINGLE_TARGET = 'tspuma-single';

/** The workers a debugger is attached to through discovery right now. */
/** The workers a debugger client is attached to (through discovery), and whether the server is a single process. */
async function attachedWorkers(discovery: string | null): Promise<{ workers: number[]; single: boolean }> {
  if (!discovery) return { workers: [], single: false };
  try {
    const res = await fetch(`${discovery.replace(/\/$/, '')}/json/list`, { signal: AbortSignal.timeout(5000) });
    const list = (await res.json()) as ListEntry[];
    // Single mode's one process (`tspuma-single`) is the probes' worker 0; a cluster primary serves no request.
    const served = (e: ListEntry) => e.tspuma?.worker ?? (e.id === SINGLE_TARGET ? 0 : null);
    return { workers: list.filter((e) => served(e) !== null && (e.tspuma?.clients ?? 0) > 0).map((e) => served(e)!), single: list.some((e) => e.id === SINGLE_TARGET) };
  } catch {
    return { workers: [], single: false };
  }
}

/**
 * Where the replayed request goes: --url, else the server's first HTTP bind from its state file
 * (a wildcard address as loopback). Never the dump's Host: a client chose it, and behind a proxy
 * it is the public site; sent there, the request (headers, body) would reach another machine or
 * another local service.
 */
export function replayTarget(url: string | undefined, binds: readonly string[] | null | undefined, dumpHost: string | undefined): URL {
  if (url !== undefined) {
    try {
      return new URL(url);
    } catch {
      usage(`--url takes an http:// or https:// URL; got ${JSON.stringify(url)}`);
    }
  }
  const bind = (binds ?? []).find((b) => /^https?:\/\//.test(b));
  if (bind) {
    const u = new URL(bind);
    if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
    else if (u.hostname === '[::]') u.hostname = '[::1]';
    return u;
  }
  return usage(`the server's state file names no HTTP bind to send the request to${binds && binds.length > 0 ? ` (it serves ${binds.join(', ')})` : ''}, and the dump's Host${dumpHost ? ` (${JSON.stringify(dumpHost)})` : ''} is not used (a client chose it): give --url http://127.0.0.1:PORT`);
}

function send(url: URL, r: Replayed): { done: Promise<{ status: number; body: string }>; abort: () => void } {
  const lib = url.protocol === 'https:' ? https : http;
  let req: http.ClientRequest;
  const done = new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    req = lib.request(url, { method: r.method, path: r.path, headers: { ...r.headers, ...(r.body !== null ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length + body.length > 4096 ? '' : c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    if (r.body !== null) req.write(r.body);
    req.end();
  });
  return { done, abort: () => req.destroy() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function replay(args: string[], io: ProbeOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  const { flags, rest } = controlFlags(args, usage);
  let url: string | undefined;
  let inspectUrl: string | undefined;
  let seconds = 120;
  let secondsGiven = false;
  let force = false;
  let timeout = DEFAULT_TIMEOUT_S;
  let timeoutGiven = false;
  const given: Restored & { headers: Record<string, string> } = { headers: {} };
  const files: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = () => rest[++i] ?? usage(`${a} needs a value`);
    if (a === '--url') url = value();
    else if (a === '--inspect-url') inspectUrl = value();
    else if (a === '--for') {
      seconds = parseDuration(value(), '--for');
      secondsGiven = true;
    }
    else if (a === '--force') force = true;
    else if (a === '--timeout') {
      const v = value();
      timeout = Number(v);
      timeoutGiven = true;
      if (!(timeout > 0) || !Number.isFinite(timeout)) usage(`--timeout needs a number of seconds above 0; got ${JSON.stringify(v)}`);
    }
    else if (a === '--path') {
      given.path = value();
      if (!given.path.startsWith('/')) usage(`--path takes the path and query to send, starting with /; got ${JSON.stringify(given.path)}`);
    }
    else if (a === '--body') {
      const from = value();
      try {
        given.body = readFileSync(from === '-' ? 0 : from, 'utf8');
      } catch (err) {
        usage(`--body ${from}: ${(err as Error).message}`);
      }
    } else if (a === '--header') {
      const m = /^([!#$%&'*+.^`|~\w-]+):\s*(.*)$/.exec(value());
      if (!m) usage(`--header takes 'NAME: VALUE'; got ${JSON.stringify(rest[i])}`);
      given.headers[m[1]!] = m[2]!;
    }
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else files.push(a);
  }
  if (files.length !== 1) usage('one DUMP.json is needed');
  const file = files[0]!;
  let dump: Dump;
  try {
    dump = JSON.parse(readFileSync(file, 'utf8')) as Dump;
  } catch (err) {
    throw replayError(file, `it cannot be read as JSON (${(err as Error).message})`);
  }
  if (dump?.version !== 1 || !Array.isArray(dump.frames)) throw replayError(file, 'it is not a tspuma dump (version 1)');
  if (!dump.request) throw replayError(file, `it holds no request (a ${dump.kind} in phase ${dump.phase}, not a request's failure)`);
  const culprit = dump.frames[dump.culprit];
  if (!culprit) throw replayError(file, 'it names no culprit frame to stop at');
  const started = performance.now();
  const target = { ...controlTarget(flags, usage), by: whoAmI('replay'), timeout: { ms: Math.round(timeout * 1000), from: timeoutFrom(timeoutGiven) } };
  const serverCwd = target.state?.running_from ?? process.cwd();
  const location = `${isAbsolute(culprit.file) ? culprit.file : resolve(serverCwd, culprit.file)}:${culprit.line}`;
  const base = replayTarget(url, target.state?.urls, dump.request.headers.host);
  const requestId = `replay-${randomBytes(6).toString('hex')}`;
  const r = replayedRequest(dump, requestId, given);
  for (const m of r.missing) io.err(`tspuma replay: not restored: ${m}\n`);
  if (r.changed.length > 0) {
    // Sent without them it is another request, which the app would run: refused unless asked for.
    if (!force) throw replayError(file, `${r.changed.join('; ')}. Without it, ${r.method} ${dump.request.url} would be another request, which the app would run with other values; --force sends it anyway`);
    for (const m of r.changed) io.err(`tspuma replay: not restored (sent anyway, --force): ${m}\n`);
  }
  const { workers: attached, single } = await attachedWorkers(inspectUrl ?? target.state?.inspect_url ?? null);
  /** Who serves the request: "the server" in single mode, else its worker(s). */
  const who = (workers: number[]) => (single ? 'the server' : `worker${workers.length === 1 ? '' : 's'} ${workers.join(', ')}`);
  const kind = attached.length > 0 ? 'break' : 'snapshot';
  const body: ProbeRequest = { kind, location, cwd: serverCwd, requestId, attached, hits: 1, for: seconds, by: whoAmI('replay') };
  const set = await controlRequest<ProbeView>(target, 'POST', '/probes', body);
  if (set.status !== 201) {
    io.err(`tspuma replay: cannot set the probe at ${location}: ${set.body.code ? `${set.body.code}: ` : ''}${set.body.error}\n`);
    return 1;
  }
  const id = set.body.id;
  io.err(
    attached.length > 0
      ? `tspuma replay: breakpoint (probe ${id}) at ${culprit.file}:${culprit.line} for request ${requestId}; a debugger is attached to ${who(attached)}${single ? '' : ' (a worker without one takes a snapshot instead)'}\n`
      : `tspuma replay: no debugger is attached to ${single ? 'the server' : 'any worker'} (through discovery${target.state?.inspect_url ? ` at ${target.state.inspect_url}` : ''}): a snapshot probe (probe ${id}) at ${culprit.file}:${culprit.line} for request ${requestId} instead\n`,
  );
  // A worker still arming the probe when the server answered (its own wait over: a loaded machine)
  // would run the request past the line: waited for, up to --timeout, as tspuma probe does.
  if ((await armed(target, set.body, { timeout, timeoutGiven, armBy: started + timeout * 1000 }, io, null)) === null) {
    await controlRequest(target, 'DELETE', `/probes/${id}`).catch(() => undefined);
    return 1;
  }
  io.err(`tspuma replay: ${r.method} ${r.path} to ${base.origin}${r.body !== null ? ` with its ${Buffer.byteLength(r.body)}-byte body` : ''}\n`);
  const sent = send(base, r);
  let answer: { status: number; body: string } | null = null;
  let failed: Error | null = null;
  sent.done.then(
    (a) => (answer = a),
    (err: Error) => (failed = err),
  );
  try {
    const deadline = Date.now() + seconds * 1000;
    let reported = false;
    /** Reads the probe: a stop or a snapshot is printed once. */
    const look = async () => {
      const view = (await controlRequest<ProbeView>(target, 'GET', `/probes/${id}`)).body;
      if (!reported && view.pausedIn?.length > 0) {
        const p = view.pausedIn[0]!;
        io.out(`${who([p.worker])} stopped at ${culprit.file}:${culprit.line} with request ${p.requestId}: your debugger shows it paused there; resume it there to let the request finish\n`);
        reported = true;
      }
      if (!reported && view.snapshots?.length > 0) {
        io.out(`fresh snapshot: ${view.snapshots[0]!.path ?? `not written (${view.snapshots[0]!.problem ?? 'no file'}): its text is on the server's stderr`}\nold dump:       ${resolve(file)}\n`);
        reported = true;
      }
    };
    while (Date.now() < deadline) {
      await look();
      if (answer !== null || failed !== null) break;
      await sleep(200);
    }
    // The answer can come before the server has recorded the stop it follows: a single-mode
    // server answers the poll that waited out the pause before it handles the stop's own message,
    // and a worker's message to the primary can trail its response. Read again, briefly.
    for (let i = 0; i < 5 && !reported && answer !== null; i++) {
      await sleep(i === 0 ? 0 : 200);
      await look();
    }
    if (failed) {
      io.err(`tspuma replay: the request to ${base.origin} failed: ${(failed as Error).message}\n`);
      return 1;
    }
    if (answer === null) {
      // How long it waited, where that came from, and how to wait longer.
      io.err(`tspuma replay: no answer within ${seconds} s (${secondsGiven ? 'from --for; a longer one waits longer' : 'the default; --for DURATION waits longer'})\n`);
      return 1;
    }
    const a = answer as { status: number; body: string };
    if (!reported) io.err(`tspuma replay: the request was answered ${a.status} without reaching ${culprit.file}:${culprit.line} (the app took another path this time)\n`);
    io.err(`tspuma replay: answered ${a.status}${dump.response?.status ? ` (the dumped request was answered ${dump.response.status})` : ''}\n`);
    return reported ? 0 : 1;
  } finally {
    sent.abort();
    await controlRequest(target, 'DELETE', `/probes/${id}`).catch(() => undefined);
  }
}
