// Bind URIs (tcp://, ssl://, unix://, with backlog, mode and TLS files) parsed and checked into
// BindSpecs, and a bind's URL for boot lines. Parsing only: no socket is touched here.
import { accessSync, constants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { TspumaError, didYouMean, fileProblem, showValue } from './errors.js';

/**
 * Which PROXY protocol header a bind accepts (`?proxy_protocol=`); auto tells the two apart by
 * their first byte. Defined here, with the other parameters: the protocol's reader
 * (proxy-protocol.ts) loads only for a bind that asks for it.
 */
export type ProxyProtocolMode = 'v1' | 'v2' | 'auto';
export const PROXY_PROTOCOL_MODES: readonly ProxyProtocolMode[] = ['v1', 'v2', 'auto'];

export const BACKLOG_MIN = 1;
export const BACKLOG_MAX = 65535;
/** Puma's default backlog. */
export const BACKLOG_DEFAULT = 1024;
/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
export const UNIX_PATH_MAX = 107;

export interface TlsSpec {
  readonly cert: string;
  readonly key: string;
  readonly ca: string | null;
}

export interface BindSpec {
  /** The URI as the user wrote it, for messages. */
  readonly uri: string;
  readonly scheme: 'tcp' | 'ssl' | 'unix';
  readonly host: string | null;
  readonly port: number | null;
  readonly path: string | null;
  readonly backlog: number;
  readonly lowLatency: boolean;
  /** unix:// socket file mode, e.g. 0o660. */
  readonly mode: number | null;
  readonly tls: TlsSpec | null;
  /** `?proxy_protocol=`: each connection starts with a PROXY protocol header of this version; null: none. */
  readonly proxyProtocol: ProxyProtocolMode | null;
  /** Where the bind came from ("-b in command line", "config file x, key `bind`"). */
  readonly source: string;
}

const PARAMS: Record<BindSpec['scheme'], readonly string[]> = {
  tcp: ['backlog', 'low_latency', 'proxy_protocol'],
  ssl: ['backlog', 'low_latency', 'cert', 'key', 'ca'],
  unix: ['backlog', 'mode', 'proxy_protocol'],
};

function fail(uri: string, source: string, reason: string): never {
  throw new TspumaError('TSPUMA_ERR_BIND_URI', { uri, source, reason });
}

function parseBacklog(raw: string | null, uri: string, source: string): number {
  if (raw === null) return BACKLOG_DEFAULT;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < BACKLOG_MIN || n > BACKLOG_MAX) {
    throw new TspumaError('TSPUMA_ERR_BIND_BACKLOG', {
      value: showValue(raw),
      uri,
      source,
      min: BACKLOG_MIN,
      max: BACKLOG_MAX,
    });
  }
  return n;
}

function parseBoolParam(raw: string | null, name: string, uri: string, source: string, dflt: boolean): boolean {
  if (raw === null) return dflt;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fail(uri, source, `${name}=${showValue(raw)} must be true or false`);
}

/** What each TLS file parameter names, for the line that says it is missing. */
const TLS_FILES: Record<string, string> = {
  cert: 'the PEM file of the certificate, with its chain',
  key: "the PEM file of the certificate's private key",
  ca: 'the PEM file of the CA certificates that client certificates must chain to',
};

function readableFile(raw: string | null, what: string, uri: string, source: string, base: string): string {
  if (raw === null || raw === '') {
    // Said as `key=PATH`, never `?key=FILE`: the CLI's redaction hides a key= query value, and a
    // hidden placeholder reads as if a value had been given.
    throw new TspumaError('TSPUMA_ERR_BIND_TLS', { uri, source, reason: `${what} is required: add ${what}=PATH to the bind's query (${TLS_FILES[what] ?? 'a PEM file'})` });
  }
  const file = isAbsolute(raw) ? raw : resolve(base, raw);
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new TspumaError('TSPUMA_ERR_BIND_TLS', { uri, source, reason: `the ${what} file ${file} ${fileProblem((err as NodeJS.ErrnoException).code)}` });
  }
  return file;
}

/** Parses one bind URI. Relative unix paths and TLS files resolve against baseDir (default cwd). */
export function parseBind(uri: string, source: string, baseDir: string = process.cwd()): BindSpec {
  const m = /^([a-z]+):\/\/([^?]*)(?:\?(.*))?$/i.exec(uri.trim());
  if (!m) fail(uri, source, 'it has no scheme://');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'ssl' && scheme !== 'unix') {
    fail(uri, source, `unknown scheme ${scheme}://${didYouMean(scheme, ['tcp', 'ssl', 'unix'])}`);
  }
  const params = new URLSearchParams(m[3] ?? '');
  for (const key of params.keys()) {
    if (key === 'proxy_protocol' && scheme === 'ssl') {
      fail(uri, source, 'proxy_protocol is not supported on ssl:// (terminate TLS at the load balancer and bind tcp://, or pass TLS through without the PROXY header)');
    }
    if (!PARAMS[scheme].includes(key)) {
      fail(uri, source, `unknown parameter ${key} for ${scheme}:// (known: ${PARAMS[scheme].join(', ')})${didYouMean(key, PARAMS[scheme])}`);
    }
  }
  const backlog = parseBacklog(params.get('backlog'), uri, source);
  const proxyRaw = params.get('proxy_protocol');
  if (proxyRaw !== null && !(PROXY_PROTOCOL_MODES as readonly string[]).includes(proxyRaw)) {
    fail(uri, source, `proxy_protocol=${showValue(proxyRaw)} must be one of ${PROXY_PROTOCOL_MODES.join(', ')}`);
  }
  const proxyProtocol = proxyRaw as ProxyProtocolMode | null;
  const rest = decodeURIComponent(m[2]!);

  if (scheme === 'unix') {
    if (rest === '') fail(uri, source, 'the socket path is empty');
    const path = rest.startsWith('@') ? `\0${rest.slice(1)}` : isAbsolute(rest) ? rest : resolve(baseDir, rest);
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
      fail(uri, source, `the socket path is ${Buffer.byteLength(path)} bytes; Linux allows at most ${UNIX_PATH_MAX}`);
    }
    const modeRaw = params.get('mode');
    let mode: number | null = null;
    if (modeRaw !== null) {
      if (!/^0?[0-7]{3}$/.test(modeRaw)) fail(uri, source, `mode=${showValue(modeRaw)} must be an octal file mode such as 0660`);
      mode = parseInt(modeRaw, 8);
    }
    return { uri, scheme, host: null, port: null, path, backlog, lowLatency: false, mode, tls: null, proxyProtocol, source };
  }

  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d+)$/.exec(rest);
  if (!hp) fail(uri, source, 'expected HOST:PORT (IPv6 hosts in brackets, e.g. [::1]:3000)');
  let host = hp[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host === '') fail(uri, source, 'the host is empty');
  const port = Number(hp[2]);
  if (!Number.isInteger(port) || port > 65535) fail(uri, source, `port ${hp[2]} must be an integer from 0 to 65535`);
  const lowLatency = parseBoolParam(params.get('low_latency'), 'low_latency', uri, source, true);
  let tls: TlsSpec | null = null;
  if (scheme === 'ssl') {
    tls = {
      cert: readableFile(params.get('cert'), 'cert', uri, source, baseDir),
      key: readableFile(params.get('key'), 'key', uri, source, baseDir),
      ca: params.get('ca') === null ? null : readableFile(params.get('ca'), 'ca', uri, source, baseDir),
    };
  }
  return { uri, scheme, host, port, path: null, backlog, lowLatency, mode: null, tls, proxyProtocol, source };
}

/** The URL a bind serves on, as printed in "Listening on ...". */
export function bindUrl(spec: BindSpec, actualPort?: number): string {
  if (spec.scheme === 'unix') return `unix://${spec.path!.replace('\0', '@')}`;
  const host = spec.host!.includes(':') ? `[${spec.host}]` : spec.host;
  return `${spec.scheme === 'ssl' ? 'https' : 'http'}://${host}:${actualPort ?? spec.port}`;
}
