// A client of a running primary's control app for the commands that talk to it (`tspuma probe`,
// `tspuma replay`): where it is (--control-url and --control-token, or the -S state file) and one
// JSON request to it. The token travels in the Authorization header, never in a URL or a line.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { hostname, userInfo } from 'node:os';
import { TspumaError } from '../errors.js';
import { processAlive } from '../process-alive.js';

/** What `tspuma ctl` and the other control commands read of a state file. */
export interface StateFile {
  pid: number;
  control_url: string | null;
  control_auth_token: string | null;
}

export interface ControlTarget {
  url: string;
  token: string;
  /** Who is asking (whoAmI), sent with every request for the server's log. */
  by?: string;
  /** Where the URL came from, for errors: '--control-url', or 'the state file PATH'. */
  from?: string;
  /** How long a request waits for its answer (ms; 30 s when not given) and where that bound came from, for its error ("from --timeout; …"). */
  timeout?: { ms: number; from: string };
  /** The state file's other fields (inspect_url, running_from, the binds' urls), when one was read. */
  state: (StateFile & { inspect_url?: string | null; running_from?: string; urls?: string[] }) | null;
}

export interface ControlFlags {
  url?: string;
  token?: string;
  stateFile?: string;
}

/** Takes --control-url, --control-token, -S/--state out of args (the rest is returned). */
export function controlFlags(args: string[], usage: (problem: string) => never): { flags: ControlFlags; rest: string[] } {
  const flags: ControlFlags = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i] ?? usage(`${a} needs a value`);
    if (a === '--control-url') flags.url = value();
    else if (a === '--control-token') flags.token = value();
    else if (a === '-S' || a === '--state') flags.stateFile = value();
    else rest.push(a);
  }
  return { flags, rest };
}

/**
 * Why a state file could not be read: a missing one says what writes it and when (a cluster's
 * primary before it forks, single mode once its binds answer), any other failure its reason. The file's name is never followed by `: ` (the error line's redaction would
 * read a name such as token.state as a secret's key).
 */
export function stateFileProblem(file: string, err: unknown): string {
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return `there is no state file ${file} (yet): a server started with -S ${file} writes it as it boots (in single mode once its binds answer, so a script that waits for the port can be early) and removes it when it stops`;
  return `cannot read the state file ${file} (${(err as Error)?.message ?? String(err)})`;
}

export function controlTarget(flags: ControlFlags, usage: (problem: string) => never): ControlTarget {
  let { url, token } = flags;
  let state: ControlTarget['state'] = null;
  if (flags.stateFile) {
    try {
      state = JSON.parse(readFileSync(flags.stateFile, 'utf8')) as NonNullable<ControlTarget['state']>;
    } catch (err) {
      return usage(stateFileProblem(flags.stateFile, err));
    }
    if (!url && !state.control_url) usage(`the state file ${flags.stateFile} has no control URL: start the server with --control-url (tcp://127.0.0.1:9293 or unix://PATH)`);
    url ??= state.control_url ?? undefined;
    token ??= state.control_auth_token ?? undefined;
  }
  if (!url || !token) usage('the control URL and token are needed (--control-url URL --control-token TOKEN, or -S STATEFILE)');
  return { url, token, state, from: flags.url ? '--control-url' : `the state file ${flags.stateFile}` };
}

/**
 * A control app that cannot be reached (`tspuma ctl`, `probe`, `replay` alike), coded; with a
 * state file whose server's pid is gone, it says the file is stale rather than asking.
 */
export function unreachable(target: Pick<ControlTarget, 'url' | 'from' | 'state'>, err: NodeJS.ErrnoException): TspumaError {
  let problem = err.code === 'ECONNREFUSED' ? 'the connection was refused, nothing listens there (ECONNREFUSED)' : err.code === 'ENOENT' ? 'the socket file is not there (ENOENT)' : err.code ? `${err.message} (${err.code})` : err.message;
  const pid = target.state?.pid;
  // Known not to run: no question whether it does.
  const gone = typeof pid === 'number' && pid > 0 && !processAlive(pid);
  if (gone) problem += `; the server of this state file (pid ${pid}) is not running: the state file is stale (a server killed with SIGKILL, or a machine restarted, leaves it)`;
  const advice = gone ? 'Start the server again, or delete the state file.' : 'The command line is right; the server is not answering (is it running, its primary not stopped or stuck?).';
  return new TspumaError('TSPUMA_ERR_CONTROL_UNREACHABLE', { url: target.url, source: target.from ?? '--control-url', problem, advice });
}

/** An answer that is not a control app's (its JSON): the URL given is something else's, often the app's own port (N29). */
export function notControl(target: Pick<ControlTarget, 'url' | 'from'>, status: number, contentType: string | undefined): TspumaError {
  const type = contentType ? contentType.split(';')[0]!.trim() : 'with no content type';
  return new TspumaError('TSPUMA_ERR_CONTROL_NOT_CONTROL', { url: target.url, source: target.from ?? '--control-url', status: String(status), type });
}

/** Who is asking, as the server's log will name them (with the address it sees). */
export function whoAmI(command: string): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (a container) */
  }
  return `${user}@${hostname()} (tspuma ${command})`;
}

export interface ControlAnswer<T> {
  status: number;
  body: T & { error?: string; code?: string | null };
}

/** How long a command retries a control app that answers 503 TSPUMA_ERR_LISTENER_BUSY (every connection it allows busy). */
export const BUSY_RETRY_MS = 15_000;

/**
 * One request to the control app; rejects only when it cannot be reached or answers no JSON. A
 * 503 TSPUMA_ERR_LISTENER_BUSY (its connections from this address all answering requests: a burst
 * of probe sets) ran nothing: retried, 100 ms then longer, for up to BUSY_RETRY_MS, and answered
 * with the last 503 after that.
 */
export async function controlRequest<T>(target: ControlTarget, method: string, path: string, body?: unknown, timeoutMs = target.timeout?.ms ?? 30_000): Promise<ControlAnswer<T>> {
  const deadline = Date.now() + BUSY_RETRY_MS;
  for (let wait = 100; ; wait = Math.min(1000, wait * 2)) {
    const answer = await controlRequestOnce<T>(target, method, path, body, timeoutMs);
    if (answer.status !== 503 || answer.body.code !== 'TSPUMA_ERR_LISTENER_BUSY' || Date.now() + wait > deadline) return answer;
    if (wait === 100) process.stderr.write(`tspuma: the control app at ${target.url} is busy (every connection it allows from here is answering a request); retrying for up to ${BUSY_RETRY_MS / 1000} s\n`);
    await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
  }
}

function controlRequestOnce<T>(target: ControlTarget, method: string, path: string, body: unknown, timeoutMs: number): Promise<ControlAnswer<T>> {
  const unix = /^unix:\/\/(.+)$/.exec(target.url);
  const tcp = new URL(`http://${/^tcp:\/\/(.+)$/.exec(target.url)?.[1] ?? target.url.replace(/^https?:\/\//, '')}`);
  const data = body === undefined ? null : JSON.stringify(body);
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, 'user-agent': 'tspuma-cli', ...(target.by ? { 'x-tspuma-by': target.by } : {}) };
  if (data !== null) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) });
  const where: http.RequestOptions = unix ? { socketPath: unix[1]! } : { host: tcp.hostname, port: tcp.port };
  return new Promise((resolve, reject) => {
    const req = http.request({ ...where, method, path, headers, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as ControlAnswer<T>['body'] });
        } catch {
          reject(notControl(target, res.statusCode ?? 0, res.headers['content-type']));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`it accepted the connection and sent no answer within ${timeoutMs / 1000} s${target.timeout ? ` (${target.timeout.from})` : ''}`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(target, err)));
    if (data !== null) req.write(data);
    req.end();
  });
}
