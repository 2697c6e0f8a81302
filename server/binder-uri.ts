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
  /** Which of tspuma's own listeners this URI is for (healthUrl, controlUrl); absent: one of the app's binds. */
  readonly listener?: SideListener;
}

/** tspuma's own listeners given as a URI: health checks (healthUrl) and the control app (controlUrl). */
export type SideListener = 'health' | 'control';

/**
 * What each kind of listener is called in its errors, the schemes and query parameters it takes
 * (a side listener serves plain HTTP on a socket of its own: no TLS, no PROXY protocol header,
 * node's default TCP_NODELAY), and the "Expected" list said beside a URI it refuses.
 */
const LISTENERS: Record<SideListener | 'bind', { readonly name: string; readonly doing: string; readonly params: Partial<Record<BindSpec['scheme'], readonly string[]>>; readonly expected: string }> = {
  bind: {
    name: 'Bind',
    doing: '',
    params: { tcp: ['backlog', 'low_latency', 'proxy_protocol'], ssl: ['backlog', 'low_latency', 'cert', 'key', 'ca'], unix: ['backlog', 'mode', 'proxy_protocol'] },
    expected: 'tcp://HOST:PORT, unix://PATH or ssl://HOST:PORT?cert=FILE&key=FILE',
  },
  health: { name: 'The health checks\' URI', doing: 'for health checks ', params: { tcp: ['backlog'], unix: ['backlog', 'mode'] }, expected: 'tcp://HOST:PORT or unix://PATH' },
  control: { name: 'The control app\'s URI', doing: 'for the control app ', params: { tcp: ['backlog'], unix: ['backlog', 'mode'] }, expected: 'tcp://HOST:PORT or unix://PATH' },
};

function fail(uri: string, source: string, reason: string, listener?: SideListener): never {
  const kind = LISTENERS[listener ?? 'bind'];
  throw new TspumaError('TSPUMA_ERR_BIND_URI', { what: kind.name, uri, source, reason, expected: kind.expected });
}

/** "for health checks " before "on URI" in a listen error; "" for an app's bind. */
export function listenerDoing(spec: Pick<BindSpec, 'listener'>): string {
  return LISTENERS[spec.listener ?? 'bind'].doing;
}

function parseBacklog(raw: string | null, uri: string, source: string, listener: SideListener | undefined): number {
  if (raw === null) return BACKLOG_DEFAULT;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < BACKLOG_MIN || n > BACKLOG_MAX) {
    throw new TspumaError('TSPUMA_ERR_BIND_BACKLOG', {
      value: showValue(raw),
      what: listener ? LISTENERS[listener].name.replace(/^The/, 'the') : 'bind',
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

/**
 * Parses one bind URI, or with `listener` the URI of one of tspuma's own listeners (its errors
 * name that listener and offer only the schemes and parameters it takes). Relative unix paths and
 * TLS files resolve against baseDir (default cwd).
 */
/**
 * " Did you mean `tcp://…`?" for a URI whose scheme:// is missing or mistyped: HOST:PORT, :PORT or
 * PORT (node's listen(PORT) is every interface), `tcp//…`, `tcp:/…`, `tcp:…`, a socket's path.
 */
function meantUri(uri: string, schemes: readonly string[]): string {
  const mean = (meant: string) => ` Did you mean \`${meant}\`?`;
  const typo = /^([a-z]+)([:/]+)(.+)$/i.exec(uri);
  if (typo && schemes.includes(typo[1]!.toLowerCase())) {
    const scheme = typo[1]!.toLowerCase();
    return mean(`${scheme}://${scheme === 'unix' && typo[2]!.includes('/') ? '/' : ''}${typo[3]!.replace(/^\/+/, '')}`);
  }
  const hostPort = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]*):(\d{1,5})$/i.exec(uri) ?? /^()(\d{1,5})$/.exec(uri);
  if (hostPort && schemes.includes('tcp')) return mean(`tcp://${hostPort[1] || '0.0.0.0'}:${hostPort[2]}`);
  if (uri.startsWith('/') && schemes.includes('unix')) return mean(`unix://${uri}`);
  return '';
}

export function parseBind(uri: string, source: string, baseDir: string = process.cwd(), listener?: SideListener): BindSpec {
  const kind = LISTENERS[listener ?? 'bind'];
  function refuse(reason: string): never {
    fail(uri, source, reason, listener);
  }
  const schemes = Object.keys(kind.params) as BindSpec['scheme'][];
  const m = /^([a-z]+):\/\/([^?]*)(?:\?(.*))?$/i.exec(uri.trim());
  if (!m) {
    const meant = meantUri(uri.trim(), schemes);
    refuse(meant === '' ? 'it has no scheme://' : `it has no scheme://.${meant}`);
  }
  const scheme = m[1]!.toLowerCase() as BindSpec['scheme'];
  if (!schemes.includes(scheme)) {
    refuse(scheme === 'ssl' ? 'ssl:// is not served here: only the app\'s binds serve TLS' : `unknown scheme ${scheme}://${didYouMean(scheme, schemes)}`);
  }
  const known = kind.params[scheme]!;
  const params = new URLSearchParams(m[3] ?? '');
  for (const key of params.keys()) {
    if (key === 'proxy_protocol' && scheme === 'ssl') {
      refuse('proxy_protocol is not supported on ssl:// (terminate TLS at the load balancer and bind tcp://, or pass TLS through without the PROXY header)');
    }
    if (!known.includes(key)) {
      refuse(`unknown parameter ${key} for ${scheme}:// (known: ${known.join(', ')})${didYouMean(key, known)}`);
    }
  }
  const backlog = parseBacklog(params.get('backlog'), uri, source, listener);
  const proxyRaw = params.get('proxy_protocol');
  if (proxyRaw !== null && !(PROXY_PROTOCOL_MODES as readonly string[]).includes(proxyRaw)) {
    refuse(`proxy_protocol=${showValue(proxyRaw)} must be one of ${PROXY_PROTOCOL_MODES.join(', ')}`);
  }
  const proxyProtocol = proxyRaw as ProxyProtocolMode | null;
  const rest = decodeURIComponent(m[2]!);

  if (scheme === 'unix') {
    if (rest === '') refuse('the socket path is empty');
    const path = rest.startsWith('@') ? `\0${rest.slice(1)}` : isAbsolute(rest) ? rest : resolve(baseDir, rest);
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
      refuse(`the socket path is ${Buffer.byteLength(path)} bytes; Linux allows at most ${UNIX_PATH_MAX}`);
    }
    const modeRaw = params.get('mode');
    let mode: number | null = null;
    if (modeRaw !== null) {
      if (!/^0?[0-7]{3}$/.test(modeRaw)) refuse(`mode=${showValue(modeRaw)} must be an octal file mode such as 0660`);
      mode = parseInt(modeRaw, 8);
    }
    return { uri, scheme, host: null, port: null, path, backlog, lowLatency: false, mode, tls: null, proxyProtocol, source, ...(listener ? { listener } : {}) };
  }

  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d+)$/.exec(rest);
  if (!hp) refuse('expected HOST:PORT (IPv6 hosts in brackets, e.g. [::1]:3000)');
  let host = hp[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host === '') refuse('the host is empty');
  const port = Number(hp[2]);
  if (!Number.isInteger(port) || port > 65535) refuse(`port ${hp[2]} must be an integer from 0 to 65535`);
  const lowLatency = parseBoolParam(params.get('low_latency'), 'low_latency', uri, source, true);
  let tls: TlsSpec | null = null;
  if (scheme === 'ssl') {
    tls = {
      cert: readableFile(params.get('cert'), 'cert', uri, source, baseDir),
      key: readableFile(params.get('key'), 'key', uri, source, baseDir),
      ca: params.get('ca') === null ? null : readableFile(params.get('ca'), 'ca', uri, source, baseDir),
    };
  }
  return { uri, scheme, host, port, path: null, backlog, lowLatency, mode: null, tls, proxyProtocol, source, ...(listener ? { listener } : {}) };
}

/** The URL a bind serves on, as printed in "Listening on ...". */
export function bindUrl(spec: BindSpec, actualPort?: number): string {
  if (spec.scheme === 'unix') return `unix://${spec.path!.replace('\0', '@')}`;
  const host = spec.host!.includes(':') ? `[${spec.host}]` : spec.host;
  return `${spec.scheme === 'ssl' ? 'https' : 'http'}://${host}:${actualPort ?? spec.port}`;
}
