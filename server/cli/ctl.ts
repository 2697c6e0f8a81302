// `tspuma ctl COMMAND`: sends one command to a running primary's control app
// (from --control-url/--control-token or the -S state file) and prints the answer.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { TspumaError } from '../errors.js';
import { unreachable, type StateFile } from './control-client.js';

export const CTL_COMMANDS = ['stats', 'stop', 'halt', 'restart', 'phased-restart', 'worker-count-up', 'worker-count-down', 'gc'] as const;


export const USAGE = `usage: tspuma ctl COMMAND [--wait] [--timeout SECONDS] (--control-url URL --control-token TOKEN | -S STATEFILE)
  COMMAND: ${CTL_COMMANDS.join(', ')}`;

function usage(problem: string): never {
  throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${problem}; ${USAGE}`, source: 'command line' });
}

export async function ctl(args: string[]): Promise<number> {
  let url: string | undefined;
  let token: string | undefined;
  let stateFile: string | undefined;
  let wait = false;
  let timeout = 120;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i] ?? usage(`${a} needs a value`);
    if (a === '--control-url') url = value();
    else if (a === '--control-token') token = value();
    else if (a === '-S' || a === '--state') stateFile = value();
    else if (a === '--wait') wait = true;
    else if (a === '--timeout') timeout = Number(value());
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  const command = rest[0];
  if (!command || rest.length > 1 || !(CTL_COMMANDS as readonly string[]).includes(command)) usage(`COMMAND must be one of ${CTL_COMMANDS.join(', ')}`);
  let state: StateFile | null = null;
  if (stateFile) {
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
    } catch (err) {
      return usage(`cannot read state file ${stateFile}: ${(err as Error).message}`);
    }
    if (!url && !state.control_url) usage(`the state file ${stateFile} has no control URL: start the server with --control-url (tcp://127.0.0.1:9293 or unix://PATH) to control it with tspuma ctl`);
    url ??= state.control_url ?? undefined;
    token ??= state.control_auth_token ?? undefined;
  }
  if (!url || !token) usage('the control URL and token are needed');
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
    if (err.code !== undefined && err.syscall === 'connect') throw unreachable({ url, state, from: stateFile && url === state?.control_url ? `the state file ${stateFile}` : '--control-url' }, err);
    process.stderr.write(`tspuma ctl: ${command} failed: ${err.message}\n`);
    return { status: 0, body: '' };
  });
  if (status === 0) return 1;
  process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
  return status >= 200 && status < 300 ? 0 : 1;
}
