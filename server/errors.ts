// The TSPUMA_ERR_* table (code, message template, status) and TspumaError, the coded error every
// refusal and failure is reported with; docs/errors.md lists the same codes (a test checks).

/**
 * The one table of stable error codes. Key === code. Each entry has a message template
 * whose {placeholders} are filled from the error's params, and the HTTP status used when
 * the error ends a request (absent for errors that never reach a client).
 * docs/errors.md documents every code; test/unit/errors.test.ts keeps the two in step.
 */
/**
 * What a failed write of a state file, pidfile or dump leaves (temporary file + rename): the
 * target as it was, which for an update is its previous file, whole (not "nothing").
 */
export const PATH_UNCHANGED = 'No partial file was written: the path is as it was before the write (its previous file, or none).';

export const ERRORS = {
  TSPUMA_ERR_OPTION_UNKNOWN: {
    template: 'Unknown option `{name}` ({source}).{didYouMean}',
  },
  TSPUMA_ERR_OPTION_INVALID: {
    template: 'Option `{name}` ({source}) must be {expected}; got {value}.',
  },
  TSPUMA_ERR_OPTION_MODE: {
    template: 'Option `{name}` ({source}) has no effect {where}: {reason}.',
  },
  TSPUMA_ERR_OPTION_CONFLICT: {
    template: 'Options conflict: {rule} ({detail}).',
  },
  TSPUMA_ERR_CLI_USAGE: {
    template: '{problem} ({source}). Run `tspuma --help` for the options.',
  },
  TSPUMA_ERR_CONFIG_NOT_FOUND: {
    template: 'Config file {path} ({source}) does not exist.',
  },
  TSPUMA_ERR_CONFIG_LOAD: {
    template: 'Loading config file {path} failed: {message}',
  },
  TSPUMA_ERR_CONFIG_SHAPE: {
    template: 'Config file {path} must default-export an object (use `export default defineConfig({...})`); it exports {got}.',
  },
  TSPUMA_ERR_APP_NOT_FOUND: {
    template: 'No app to serve: {detail}.',
  },
  TSPUMA_ERR_APP_STACK_MAPPER: {
    template: 'The app {path} set Error.prepareStackTrace while loading (source-map-support/register does): the stack texts of its errors (the error log lines, the development 500 page, a framework\'s own log) now show the lines of the JavaScript tspuma compiles the TypeScript to, under the .ts names, since that mapper looks for a source map in the .ts file on disk. Node\'s source maps, which tspuma turns on, map them already: remove that import (-d dumps are right either way).',
  },
  TSPUMA_ERR_APP_LISTEN: {
    template: 'The app {path} started a server of its own while loading (listen() on {where}): that server answers outside tspuma (no request log, timeouts, limits or graceful stop; in cluster mode each worker shares it). tspuma serves the exported app on its binds (-b, PORT); remove the listen() call, or start it only when the module is run directly.',
  },
  TSPUMA_ERR_APP_LOAD: {
    template: 'Loading app {path} failed: {message}',
  },
  TSPUMA_ERR_APP_SHAPE: {
    template: 'App {path} exports {got}; expected a (req, res) listener, a fetch handler (a function or an object with fetch(request)), or rack((env) => [status, headers, body]).',
  },
  TSPUMA_ERR_APP_HANDLER: {
    template: 'App {path} exports `{name}` as {got}; expected {expected}.',
  },
  TSPUMA_ERR_UPGRADE_REFUSED: {
    template: 'Upgrade of {method} {url} to "{protocol}" refused: {reason}.',
  },
  TSPUMA_ERR_UPGRADE_HANDLER: {
    template: 'The app\'s {handler} handler for {url} failed: {message}',
  },
  TSPUMA_ERR_APP_RESULT: {
    template: 'The app returned {got}; {expected}.',
    status: 500,
  },
  TSPUMA_ERR_BIND_URI: {
    template: '{what} `{uri}` ({source}) is invalid: {reason}. Expected {expected}.',
  },
  TSPUMA_ERR_BIND_BACKLOG: {
    template: 'backlog={value} in {what} `{uri}` ({source}) must be an integer from {min} to {max}.',
  },
  TSPUMA_ERR_BIND_TLS: {
    template: 'Bind `{uri}` ({source}): {reason}.',
  },
  TSPUMA_ERR_TLS_PLAIN_HTTP: {
    template: 'A plain HTTP request from {remote} reached the TLS bind on port {port} and was answered 400 (use https://): the client, or a proxy or health check in front of tspuma (nginx proxy_pass http://), must use https:// there; to serve plain HTTP behind a proxy that ends TLS, bind tcp://.',
  },
  TSPUMA_ERR_PROXY_PROTOCOL: {
    template: 'Connection from {remote} to {uri} closed before the app: its PROXY protocol header is not valid: {reason}.',
  },
  TSPUMA_ERR_LISTEN_ADDRINUSE: {
    template: 'Cannot listen {doing}on {uri} ({source}): the address is already in use (EADDRINUSE). {hint}',
  },
  TSPUMA_ERR_LISTEN_ACCESS: {
    template: 'Cannot listen {doing}on {uri} ({source}): permission denied (EACCES). {hint}',
  },
  TSPUMA_ERR_LISTEN_ADDRNOTAVAIL: {
    template: 'Cannot listen {doing}on {uri} ({source}): {host} is not an address of this machine (EADDRNOTAVAIL). {hint}',
  },
  TSPUMA_ERR_LISTEN_UNIX_PATH: {
    template: 'Cannot listen {doing}on {uri} ({source}): {reason}',
  },
  TSPUMA_ERR_LISTEN: {
    template: 'Cannot listen {doing}on {uri} ({source}): {osCode} ({osMessage}).',
  },
  TSPUMA_ERR_REACTOR_ENTRY: {
    template: 'Connection entry #{id} in state {phase} has an invalid deadline ({deadline}); it was evicted and its connection closed.',
  },
  TSPUMA_ERR_REACTOR_FAULT: {
    template: 'Connection-deadline fault while handling entry #{id} in state {phase}: {message}; the entry was evicted.',
  },
  TSPUMA_ERR_REQUEST_TIMEOUT: {
    template: '{method} {url} was not answered within requestTimeout ({seconds} s){where}.',
    status: 503,
  },
  TSPUMA_ERR_LOOP_BLOCKED: {
    template: 'The event loop of {loop} was blocked for {seconds} s: nothing else ran meanwhile (timers, I/O, every other request waited){during}{detail}. (Warned over loopBlockedWarning, {threshold} s.)',
  },
  TSPUMA_ERR_OUT_OF_DESCRIPTORS: {
    template: 'accept failed: {errno}: {problem}. Connections arriving meanwhile are closed unanswered; {advice}.',
  },
  TSPUMA_ERR_LOG_DROPPED: {
    template: 'stdout did not take log lines for {seconds} s (its reader stalled: a log collector or a pipe nobody drained); {lines} line(s) ({bytes} bytes) past the {bufferMiB} MiB buffer were dropped. Serving went on.',
  },
  TSPUMA_ERR_HTTP_REQUEST_LINE: {
    template: 'Malformed request line: {problem}.',
    status: 400,
  },
  TSPUMA_ERR_RESPONSE_CUT: {
    template: '{method} {url}: the response was cut after its head ({status}) and {sent}: {why}; the client has a truncated response (request {id}).',
  },
  TSPUMA_ERR_CLIENT_LEFT: {
    template: '{method} {url}: the client closed the connection after {seconds} s {where}, {before} (request {id}); what the app answers goes nowhere.',
  },
  TSPUMA_ERR_RESPONSE_STALLED: {
    template: 'The response to {method} {url} ({status}, head sent) moved no byte to the client for responseStallTimeout ({seconds} s); closed after {bytes} bytes.',
  },
  TSPUMA_ERR_HTTP_PARSE: {
    template: 'Malformed HTTP request: {reason} ({osCode}).',
    status: 400,
  },
  TSPUMA_ERR_HTTP_HEADERS_TOO_LARGE: {
    template: 'Request headers exceed {limit} bytes.',
    status: 431,
  },
  TSPUMA_ERR_HTTP_URI_TOO_LONG: {
    template: 'Request URI is {length} bytes; the limit is {limit}.',
    status: 414,
  },
  TSPUMA_ERR_HTTP_BODY_TOO_LARGE: {
    template: 'Request body of {length} bytes exceeds httpContentLengthLimit ({limit}).',
    status: 413,
  },
  TSPUMA_ERR_HTTP_FIRST_DATA_TIMEOUT: {
    template: 'The client sent part of a request and then nothing for firstDataTimeout ({seconds} s).',
    status: 408,
  },
  TSPUMA_ERR_HTTP_HEADERS_TIMEOUT: {
    template: 'The request head was not complete within headersTimeout ({seconds} s) of its first byte.',
    status: 408,
  },
  TSPUMA_ERR_HTTP_BODY_TIMEOUT: {
    template: 'The request body (read before the app runs, up to bodyBufferSize) was not complete within bodyTimeout ({seconds} s).',
    status: 408,
  },
  TSPUMA_ERR_HTTP_TRANSFER_ENCODING: {
    template: 'Transfer-Encoding "{value}" cannot frame a request body: {problem} (RFC 9112).',
    status: 400,
  },
  TSPUMA_ERR_HTTP_TRANSFER_CODING: {
    template: 'Transfer-Encoding "{value}" applies the coding "{coding}", which this server does not know: only gzip, deflate or compress may come before chunked (RFC 9112 §7).',
    status: 501,
  },
  TSPUMA_ERR_HTTP_METHOD_NOT_SUPPORTED: {
    template: 'HTTP method {method} is not in supportedHttpMethods ({supported}).',
    status: 501,
  },
  TSPUMA_ERR_HTTP_HOST_MISSING: {
    template: 'HTTP/1.1 request without a Host header.',
    status: 400,
  },
  TSPUMA_ERR_HTTP_HOST_INVALID: {
    template: 'Host header {value} is not one valid authority (RFC 9112 §3.2): {problem}.',
    status: 400,
  },
  TSPUMA_ERR_HTTP_TARGET_INVALID: {
    template: 'Request target {target} is neither a path (/...), an absolute http(s) URL with a valid authority, nor * (RFC 9112 §3.2).',
    status: 400,
  },
  TSPUMA_ERR_APP_TIMEOUT: {
    template: 'The app rejected with a TimeoutError ({message}): answered 504 Gateway Timeout.',
    status: 504,
  },
  TSPUMA_ERR_FORCED_SHUTDOWN: {
    template: '{method} {url} was still running {when}.',
    status: 503,
  },
  TSPUMA_ERR_LOWLEVEL_HANDLER: {
    template: 'lowlevelErrorHandler {problem} for {request}{expected}; the default {status} was sent.',
  },
  TSPUMA_ERR_RESPONSE_STREAM: {
    // {lead}/{after}: a body cut after its head, or a failure once the app had ended its response (review20.7).
    template: '{lead}{method} {url} failed after {after}: {message}; the connection was closed.',
  },
  TSPUMA_ERR_WORKER_TIMEOUT: {
    template: 'Worker {index} (PID: {pid}) failed to check in within {seconds} seconds; terminating it',
  },
  TSPUMA_ERR_WORKER_SHUTDOWN_TIMEOUT: {
    template: 'Worker {index} (PID: {pid}) still running {seconds} s (workerShutdownTimeout) after it was told to stop; killing it (SIGKILL)',
  },
  TSPUMA_ERR_WORKER_BOOT: {
    template: 'No worker has booted: worker {index} failed to boot {attempts}; giving up. {hint} The last failure: {reason}',
  },
  TSPUMA_ERR_RESTART_BOOT: {
    template: 'Restart to phase {phase} rolled back: new worker {index} failed to boot ({reason}); the workers of phase {kept} keep serving. A worker of phase {kept} that dies from now on (a crash, an OOM kill) is replaced from the app\'s files as they are now and may fail the same way: fix them or revert the deploy.',
  },
  TSPUMA_ERR_RESTART_STOPPING: {
    template: '{restart} not finished: the primary is stopping ({when}).',
  },
  TSPUMA_ERR_INSPECT_PORT_BUSY: {
    template: 'Inspector discovery port {port} is in use: {holder}. Using a free port instead (the discovery line below names it); chrome://inspect set to {host}:{port} shows that process\'s targets, not this server\'s.',
  },
  TSPUMA_ERR_INSPECT_REFUSED: {
    template: 'Inspector discovery refused {what} for {path}: {reason}',
  },
  TSPUMA_ERR_INSPECT_DISCOVERY: {
    template: 'Cannot read the inspector list at {url} ({source}): {message}. {hint}',
  },
  TSPUMA_ERR_INSPECT_TARGET: {
    template: 'No inspector target {wanted} at {url}; there are: {available}.',
  },
  TSPUMA_ERR_INSPECT_CONNECT: {
    template: 'Cannot attach to the inspector of {target} ({ws}): {message}.',
  },
  TSPUMA_ERR_INSPECT_CLOSED: {
    template: 'The connection to {target} closed while {what}: {why}.',
  },
  TSPUMA_ERR_INSPECT_PAUSE_TIMEOUT: {
    template: '{target} did not pause within {ms} ms; it was left running. {hint}',
  },
  TSPUMA_ERR_HOOK: {
    template: 'Hook {hook} threw: {message}',
  },
  TSPUMA_ERR_DUMP_SINK: {
    template: 'onDump for {dump} {problem}. The dump is still in the log and the dump folder; responses are not affected.',
  },
  TSPUMA_ERR_FILE_IN_USE: {
    template: 'The {what} {path} ({source}) names a tspuma that is running (PID {pid}): give this server a path of its own, or stop that one first.',
  },
  TSPUMA_ERR_PIDFILE: {
    template: 'Cannot write pidfile {path} ({source}): {message}',
  },
  TSPUMA_ERR_WORKER_FORK: {
    template: 'Cannot start worker {index}: {message} ({osCode}); {hint}. It is retried with backoff; the other workers keep serving.',
  },
  TSPUMA_ERR_CONTROL_MODE: {
    template: 'Control command {command} needs cluster mode (-w N); this server runs in single mode: {hint}.',
  },
  TSPUMA_ERR_CONTROL_UNREACHABLE: {
    template: 'Cannot reach the control app at {url} (from {source}): {problem}. {advice}',
  },
  TSPUMA_ERR_CONTROL_NOT_CONTROL: {
    template: '{url} (from {source}) answered {status} {type}, not as a tspuma control app: is it the app\'s port? The control app\'s URL is in the state file (-S) and in the server\'s boot line "* Control app on …".',
  },
  TSPUMA_ERR_LISTENER_BUSY: {
    template: 'The {listener} is busy: {limit} are open, each answering a request, so it answered this connection 503 and closed it ({hint}). Retry in a moment.',
    status: 503,
  },
  TSPUMA_ERR_CONTROL_WAIT: {
    template: '{command} --wait: {problem}.',
  },
  TSPUMA_ERR_WORKER_COUNT_MIN: {
    template: 'worker-count-down not done: a cluster keeps at least 1 worker, and this one has {workers}; `tspuma ctl stop` stops the server.',
    status: 409,
  },
  TSPUMA_ERR_CONTROL_REFUSED: {
    template: 'Control app refused {method} {path} from {client}: {reason}.',
  },
  TSPUMA_ERR_FILE_UNSAFE: {
    template: 'Refusing to write the {what} {path}: {problem}. Remove it, or choose a path in a folder only this user can write.',
  },
  TSPUMA_ERR_FILE_WRITE: {
    template: `Cannot write the {what} {path} ({osCode}): {message}. ${PATH_UNCHANGED}`,
  },
  TSPUMA_ERR_DUMP_DIR: {
    template: 'The dump folder {path} ({source}) cannot be used: {problem} ({osCode}). Dumps go to stderr only in this run; {hint}.',
  },
  TSPUMA_ERR_SOCKET_ACTIVATION: {
    template: 'Socket activation: {name}={value} in the environment; expected {expected}',
  },
  TSPUMA_ERR_PROBE_INVALID: {
    template: 'Probe {what} `{value}` ({source}) is not valid: {reason}.',
  },
  TSPUMA_ERR_PROBE_FILE: {
    template: 'Probe location {location} ({source}): {problem}.',
  },
  TSPUMA_ERR_PROBE_NO_CODE: {
    template: '{location} has no code a probe can stop at in worker {worker} ({reason}); the nearest lines with code are {nearest}.',
  },
  TSPUMA_ERR_PROBE_LIMIT: {
    template: 'Probe refused: {count} probes are set, the most probeMax allows; remove one first (tspuma probe rm ID).',
  },
  TSPUMA_ERR_PROBE_NOT_FOUND: {
    template: 'No probe {id} is set; the probes set are: {ids}.',
  },
  TSPUMA_ERR_PROBE_SIDE_EFFECT: {
    template: 'Probe {id} at {location} removed: its {what} `{expression}` may change the program ({message}); a probe may only read.',
  },
  TSPUMA_ERR_PROBE_WHEN_THROWS: {
    template: 'Probe {id} at {location}: its --when `{when}` threw {message} at its first pass in worker {worker}; {what}. The names in scope there: {names}.',
  },
  TSPUMA_ERR_PROBE_BUDGET: {
    template: 'Probe {id} at {location} suspended in worker {worker}: {why}, over probePauseBudget ({budget} ms per second); set it again to resume.',
  },
  TSPUMA_ERR_PROBE_SOURCE_CHANGED: {
    template: 'Probe {id} at {location} suspended in worker {worker}: the file it loaded changed since the probe was set (a deploy): the line it was set on, {was}, {now}; set the probe again on the line you mean.',
  },
  TSPUMA_ERR_REPLAY: {
    template: 'Cannot replay {dump}: {problem}.',
  },
  TSPUMA_ERR_SD_NOTIFY: {
    template: 'sd_notify: {problem}',
  },
} as const satisfies Record<string, { template: string; status?: number }>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams = Record<string, unknown>;

/** Renders a value for an error message: strings quoted, everything else JSON-ish, capped. */
export function showValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'function') text = `a function ${value.name || '(anonymous)'}`;
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'bigint') text = `${value}n`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * Fills a code's template. A value that ends a sentence itself ('... Did you mean `tcp`?', a
 * reason ending in '.') takes the place of the template's stop after it, so no '?.' or '..'.
 */
export function formatMessage(code: ErrorCode, params: ErrorParams): string {
  return ERRORS[code].template.replace(/\{(\w+)\}(\.?)/g, (_, key: string, stop: string) => {
    const v = params[key];
    const text = v === undefined ? '' : String(v);
    return stop !== '' && /[.?!]$/.test(text) ? text : text + stop;
  });
}

export class TspumaError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  /** HTTP status this error maps to when it ends a request. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(formatMessage(code, params), options);
    this.name = 'TspumaError';
    this.code = code;
    this.params = params;
    const entry = ERRORS[code] as { template: string; status?: number };
    this.status = entry.status;
  }
}

/** Why reading a file failed, in words. */
export function fileProblem(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return `is not readable by this user (${code})`;
    case 'EISDIR':
      return 'is a directory';
    default:
      return `cannot be read (${code ?? 'unknown error'})`;
  }
}

/**
 * The dump phase of an error that stopped a start: a listen error, the app failing to load or
 * boot (a worker's import error, every worker failing to boot, a restart rolled back), else a
 * bad option.
 */
export function startupPhase(err: unknown): 'listen' | 'boot' | 'config' {
  if (!isTspumaError(err)) return 'config';
  if (err.code.startsWith('TSPUMA_ERR_LISTEN')) return 'listen';
  if (err.code.startsWith('TSPUMA_ERR_APP') || err.code === 'TSPUMA_ERR_WORKER_BOOT' || err.code === 'TSPUMA_ERR_RESTART_BOOT') return 'boot';
  return 'config';
}

export function isTspumaError(err: unknown, code?: ErrorCode): err is TspumaError {
  return err instanceof TspumaError && (code === undefined || err.code === code);
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** " Did you mean `x`?" for the closest candidate within a sensible distance, else "". */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestDistance <= limit ? ` Did you mean \`${best}\`?` : '';
}
