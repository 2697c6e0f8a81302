// `tspuma ctl COMMAND`: sends one command to a running primary's control app
// (from --control-url/--control-token or the -S state file) and prints the answer.
import http from 'node:http';
import { TspumaError } from '../errors.js';
import { controlFlags, controlTarget, unreachable } from './control-client.js';

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
  const rest: string[] = [];
  for (let i = 0; i < others.length; i++) {
    const a = others[i]!;
    if (a === '--wait') wait = true;
    else if (a === '--timeout') timeout = Number(others[++i] ?? usage(`${a} needs a value`));
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  const command = rest[0];
  if (!command || rest.length > 1 || !(CTL_COMMANDS as readonly string[]).includes(command)) usage(`COMMAND must be one of ${CTL_COMMANDS.join(', ')}`);
  const control = controlTarget(flags, usage);
  const { url, token } = control;
  const target = /^unix:\/\/(.+)$/.exec(url);
  const tcp = /^tcp:\/\/(.+)$/.exec(url);
  const path = `/${command}?token=${encodeURIComponent(token)}${wait ? '&wait=1' : ''}`;
  const options: http.RequestOptions = target ? { socketPath: target[1]!, path } : { host: new URL(`http://${tcp?.[1] ?? url}`).hostname, port: new URL(`http://${tcp?.[1] ?? url}`).port, path };
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get({ ...options, timeout: timeout * 1000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} s`)));
    req.on('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    // Nothing to connect to: the coded error `probe` gives (with a stale state file named as such).
    if (err.code !== undefined && err.syscall === 'connect') throw unreachable(control, err);
    process.stderr.write(`tspuma ctl: ${command} failed: ${err.message}\n`);
    return { status: 0, body: '' };
  });
  if (status === 0) return 1;
  process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
  if (status < 200 || status >= 300) return 1;
  // The control app answers gc 200 with "gc": false when the server cannot run it (no
  // --expose-gc): nothing was done, so a script's `ctl gc && …` must not read success (T12.2).
  return command === 'gc' && gcNotRun(body) ? 1 : 0;
}

function gcNotRun(body: string): boolean {
  try {
    return (JSON.parse(body) as { gc?: unknown }).gc === false;
  } catch {
    return false;
  }
}
