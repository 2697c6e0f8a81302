// Boot-time exposure warnings: from the resolved options, says which listening sockets reach
// beyond this machine while they can run code, steer the server or show its internals.
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { BindSpec } from './binder-uri.js';
import type { Options } from './options.js';
import { listeningAddressOfFd } from './port-holder.js';

/** One reason to warn, with what the user set and how to stop the warning. */
export interface ExposureWarning {
  /** The option, as the command line spells it. */
  readonly option: string;
  readonly value: string;
  /** Where the value came from ("-b in command line", "default", ...). */
  readonly source: string;
  readonly msg: string;
}

/** What this process actually starts: the control app and inspectors run in the CLI's process (cluster or single mode), not under start(). */
export interface Started {
  readonly control: boolean;
  readonly inspector: boolean;
}

/**
 * True for addresses only this machine can reach: `localhost`, 127.0.0.0/8, `::1`, and
 * 127.0.0.0/8 written as an IPv4-mapped IPv6 address. Any other name may resolve anywhere.
 */
export function loopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIP(v4) === 4 && v4.split('.')[0] === '127';
}

/** Whether a listener on `host` reaches beyond this machine; a unix socket is reached through the file system, never from another host. */
const remoteAt = (spec: BindSpec, host: string | null) => spec.scheme !== 'unix' && host !== null && !loopbackHost(host);

/** The address a listening socket of this process is bound to, by its fd (null: not a TCP socket, or not known). */
type AddressOfFd = (fd: number) => string | null;

/**
 * The host a bind listens on: its URI's, or for a socket systemd passed (`fd://3`, no host in its
 * URI) the address the socket is bound to (null: not a TCP socket, or not known).
 */
const hostOf = (spec: BindSpec, addressOf: AddressOfFd): string | null => {
  const fd = (spec as { fd?: unknown }).fd;
  return typeof fd === 'number' && spec.host === null ? addressOf(fd) : spec.host;
};

const where = (host: string) => (host === '0.0.0.0' || host === '::' ? 'every network interface' : host);

type Exposed = Pick<Options, 'bind' | 'controlUrl' | 'debug' | 'environment' | 'inspect' | 'sources'>;

/** The warnings for these options, in a fixed order; empty when everything stays on loopback. */
export function exposureWarnings(options: Exposed, started: Started, addressOf: AddressOfFd = listeningAddressOfFd): ExposureWarning[] {
  const out: ExposureWarning[] = [];
  const control = options.controlUrl;
  if (started.control && control && remoteAt(control, control.host)) {
    out.push({
      option: '--control-url',
      value: control.uri,
      source: control.source,
      msg: `--control-url ${control.uri} (${control.source}) listens on ${where(control.host!)}: anyone who reaches it and sees the token (sent in clear over http) can stop, halt and restart the server and read worker stacks. Bind it to 127.0.0.1 (or a unix:// socket) to silence this.`,
    });
  }
  const inspect = options.inspect;
  if (started.inspector && inspect && !loopbackHost(inspect.host)) {
    const value = `${inspect.host.includes(':') ? `[${inspect.host}]` : inspect.host}:${inspect.port}`;
    const source = options.sources.inspect ?? options.sources.debug ?? 'default';
    out.push({
      option: '--inspect',
      value,
      source,
      msg: `--inspect=${value} (${source}) puts inspector discovery and every process's inspector on ${where(inspect.host)}: anyone who reaches them can run code in the server. Use --inspect=127.0.0.1:${inspect.port} (and an SSH tunnel from elsewhere) to silence this.`,
    });
  }
  const open = options.debug && showsErrorDetails(options.environment)
    ? options.bind.flatMap((b) => {
      const host = hostOf(b, addressOf);
      return remoteAt(b, host) ? [host === b.host ? b.uri : `${b.uri} (${host})`] : [];
    })
    : [];
  if (open.length > 0) {
    const source = options.sources.debug ?? 'default';
    const binds = open.join(', ');
    out.push({
      option: '--debug',
      value: `environment ${options.environment}`,
      source,
      msg: `--debug (${source}) with environment ${options.environment} on ${binds}: every 500 page sends the stack, the arguments and the local values of the failing code to whoever made the request, from any host. Bind to 127.0.0.1, or run with -e production (which keeps dumps out of responses), to silence this.`,
    });
  }
  return out;
}

/**
 * Whether error responses carry details (the message, the stack and, with -d, the dump): only in
 * the environments named `development` and `test`, exactly, as Puma leaks a stack only where the
 * environment matches `development|test`. Any other name (`production`, `prod`, `staging`,
 * `Production`) is an environment someone else's clients reach: the generic body.
 */
export function showsErrorDetails(environment: string): boolean {
  return environment === 'development' || environment === 'test';
}

/** Logs each warning at warn level, with its option, value and source as fields. */
export function warnExposure(log: Logger, warnings: readonly ExposureWarning[]): void {
  for (const w of warnings) log.warn({ exposure: w.option, value: w.value, source: w.source }, w.msg);
}
