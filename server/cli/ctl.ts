// `tspuma ctl COMMAND`: sends one command to a running primary's control app
// (from --control-url/--control-token or the -S state file) and prints the answer.
import http from 'node:http';
import { TspumaError } from '../errors.js';
import { processAlive, processExits } from '../process-alive.js';
import { controlFlags, controlTarget, notControl, unreachable, type ControlTarget } from './control-client.js';

export const CTL_COMMANDS = ['stats', 'stop', 'halt', 'restart', 'phased-restart', 'worker-count-up', 'worker-count-down', 'gc'] as const;


export const USAGE = `usage: tspuma ctl COMMAND [--wait] [--timeout SECONDS] (--control-url URL --control-token TOKEN | -S STATEFILE)
  COMMAND: ${CTL_COMMANDS.join(', ')}
  exits 0 when the command was done, 1 when it was not (gc in a server started without --expose-gc too)`;

function usage(problem: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}; ${USAGE}`, source: 'command line' });
}

export async function ctl(args: string[]): Promise<number> {
  const { flags, rest: others } = controlFlags(args, usage);
  let wait = false;
  let timeout = 120;
  let timeoutGiven = false;
  const rest: string[] = [];
  for (let i = 0; i < others.length; i++) {
    const a = others[i]!;
    if (a === '--wait') wait = true;
    else if (a === '--timeout') {
      timeout = Number(others[++i] ?? usage(`${a} needs a value`));
      timeoutGiven = true;
    }
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  const command = rest[0];
  if (!command || rest.length > 1 || !(CTL_COMMANDS as readonly string[]).includes(command)) usage(`COMMAND must be one of ${CTL_COMMANDS.join(', ')}`);
  if (wait && !(WAITING_COMMANDS as readonly string[]).includes(command)) usage(`--wait means nothing for ${command}, which answers at once; it waits for ${WAITING_COMMANDS.join(', ')}`);
  if (!(timeout > 0)) usage(`--timeout needs a number of seconds above 0; got ${JSON.stringify(others[others.indexOf('--timeout') + 1])}`);
  const control = controlTarget(flags, usage);
  const { url, token } = control;
  const target = /^unix:\/\/(.+)$/.exec(url);
  const tcp = /^tcp:\/\/(.+)$/.exec(url);
  const path = `/${command}?token=${encodeURIComponent(token)}${wait ? '&wait=1' : ''}`;
  const options: http.RequestOptions = target ? { socketPath: target[1]!, path } : { host: new URL(`http://${tcp?.[1] ?? url}`).hostname, port: new URL(`http://${tcp?.[1] ?? url}`).port, path };
  const { status, body, type } = await new Promise<{ status: number; body: string; type?: string }>((resolve, reject) => {
    const req = http.get({ ...options, timeout: timeout * 1000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    });
    const bound = timeoutBound(timeoutGiven);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeout} s (${bound})`), { code: 'TIMEOUT' })));
    req.on('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    // Nothing to connect to: the coded error `probe` gives (with a stale state file named as such).
    if (err.code !== undefined && err.syscall === 'connect') throw unreachable(control, err);
    if (wait && err.code === 'TIMEOUT') throw new TspumaError('TSPUMA_ERR_CONTROL_WAIT', { command, problem: `${err.message}: the server has not reached ${WAITED_FOR[command]} yet, or is stuck; it goes on without this client` });
    process.stderr.write(`tspuma ctl: ${command} failed: ${err.message}\n`);
    return { status: 0, body: '', type: undefined };
  });
  if (status === 0) return 1;
  // Every answer of a control app is JSON: anything else is another server's (the app's own port given by mistake).
  if (!isJson(body)) throw notControl(control, status, type);
  if (status < 200 || status >= 300) {
    // A refusal or a failure (a phased restart rolled back, a worker that failed to boot): its
    // coded error on stderr, as `tspuma probe` says its own, so a deploy log shows it and a script
    // reading stdout never takes it for an answer (review20.4).
    process.stderr.write(`${refusalLine(command, status, body)}\n`);
    if (status === 403 && control.state) {
      const hint = stateTokenRefused(control, body);
      if (hint) process.stderr.write(`tspuma ctl: ${hint}\n`);
    }
    return 1;
  }
  process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
  // The answer came as the server was about to exit: with its pid known from the state file, until it has.
  if (wait && (command === 'stop' || command === 'halt') && control.state?.pid !== undefined) await exited(control.state.pid, command);
  // The control app answers gc 200 with "gc": false when the server cannot run it (no
  // --expose-gc): nothing was done, so a script's `ctl gc && …` must not read success (T12.2).
  if (command === 'gc' && gcNotRun(body)) {
    process.stderr.write(`tspuma ctl gc: ${(JSON.parse(body) as { message?: unknown }).message ?? 'gc not run'}\n`);
    return 1;
  }
  return 0;
}

/** `tspuma ctl COMMAND: CODE: error` of a control app's refusal, with any other field of its answer after it. */
export function refusalLine(command: string, status: number, body: string): string {
  const answer = JSON.parse(body) as Record<string, unknown> | null;
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) return `tspuma ctl ${command}: status ${status}: ${body.trim()}`;
  const { error, code, ...rest } = answer;
  const text = typeof error === 'string' ? error : `status ${status}`;
  const more = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `tspuma ctl ${command}: ${typeof code === 'string' ? `${code}: ` : ''}${text}${more}`;
}

/**
 * A state file's token the control app refused: the answer (stdout, as every answer) names no
 * file, and a token tspuma itself wrote is refused only by another server at that address, or when
 * the file changed (review19.12). Null for any other refusal (a web Origin, a Host).
 */
function stateTokenRefused(control: ControlTarget, body: string): string | null {
  let code: unknown;
  let error: unknown;
  try {
    ({ code, error } = JSON.parse(body) as { code?: unknown; error?: unknown });
  } catch {
    return null;
  }
  if (code !== 'TSPUMA_ERR_CONTROL_REFUSED' || typeof error !== 'string' || !error.startsWith('a valid token is required')) return null;
  const pid = control.state?.pid;
  const head = `the control app at ${control.url} refused the token of ${control.from}`;
  if (typeof pid !== 'number' || pid <= 0) return `${head}: the file names no server pid; is it another server's?`;
  return processAlive(pid)
    ? `${head}: the server that wrote it (pid ${pid}) still runs, so another server listens at that address (its control URL reused), or the file was changed since it was written.`
    : `${head}: the server that wrote it (pid ${pid}) is not running, so the file is stale and another server listens at that address now. Start the server again, or delete the state file.`;
}

function isJson(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

function gcNotRun(body: string): boolean {
  try {
    return (JSON.parse(body) as { gc?: unknown }).gc === false;
  } catch {
    return false;
  }
}

/** The commands --wait waits for (see WAITED_FOR); the others answer at once. */
export const WAITING_COMMANDS = ['stop', 'halt', 'restart', 'phased-restart', 'worker-count-up', 'worker-count-down'] as const;

/** What each command's --wait waits for, for its error. */
const WAITED_FOR: Record<string, string> = {
  stop: 'its exit (every worker stopped, afterStopped run, its files removed)',
  halt: 'its exit',
  restart: 'the end of the hot restart',
  'phased-restart': 'the end of the phased restart',
  'worker-count-up': "the new worker's boot",
  'worker-count-down': "the removed worker's exit",
};

/** How long after its last answer a stopped server's process may take to be gone. */
const EXIT_MS = 10_000;

/** Resolves once process `pid` is gone; TSPUMA_ERR_CONTROL_WAIT if it still runs EXIT_MS later. */
async function exited(pid: number, command: string): Promise<void> {
  if (!(await processExits(pid, EXIT_MS))) throw new TspumaError('TSPUMA_ERR_CONTROL_WAIT', { command, problem: `the server answered that it stopped, but its process (PID ${pid}, from the state file) was still running ${EXIT_MS / 1000} s later` });
}

/** What a timed-out request's error says of its bound: where it came from and how to wait longer. */
export function timeoutBound(given: boolean): string {
  return given ? 'from --timeout; a larger one waits longer' : 'the default; --timeout SECONDS waits longer';
}
