// One record per option: its default, its check, its command-line flag and environment
// variables, its --help line and its row in docs/configuration.md. The option types, DEFAULTS,
// the flag and environment parsing, --help and the docs table are all derived from RECORDS.
import type { AppInput, Hook, LowlevelErrorHandler } from './app-types.js';
import type { OnDump } from '../diagnostics/dump-delivery.js';
import {
  Expected, envCount, functionOrNull, hooks, integer, nonEmptyString, nullable, parseBool, parseNumber, parseInspect, parseMethods, parseRegexSource,
  parseThreads, seconds, LOG_LEVELS, type Check, type LogLevel,
} from './option-checks.js';
import { compileTrust, FORWARDED_HEADERS, TRUST_NAMES, type ForwardedHeaders } from './trusted-proxy.js';

/** The command-line flag of an option; its long name is the option's name in kebab case. */
export interface OptionFlag {
  readonly short?: string;
  /** Placeholder when the flag takes a value. */
  readonly arg?: string;
  /** The value is optional and only given inline (--inspect=HOST:PORT). */
  readonly optional?: boolean;
  /** Each use adds to a list. */
  readonly repeatable?: boolean;
  /** The flag's text → the option's text (-t N means N:N). */
  readonly read?: (text: string) => string;
  /** The --help line. */
  readonly help: string;
}

/** An environment variable that sets an option (in the environment layer). */
export interface OptionEnv {
  readonly name: string;
  /** The variable's text → the option's value, or throws Expected; default: the text. */
  readonly read?: (text: string) => unknown;
  /** The --help line; default: "Same as --FLAG." */
  readonly help?: string;
}

/** Carries, in types only, what a config file may write when that is wider than the check's result. */
export interface Accepts<T> {
  readonly accepts?: T;
}

export interface OptionRecord<In = unknown, Out = unknown, D extends Out = Out> {
  readonly default: D;
  readonly check: Check<Out>;
  /** Markdown replacing the shown default, for defaults worked out at boot. */
  readonly defaultText?: string;
  /** Markdown after the shown default, e.g. "(100 MiB)". */
  readonly defaultNote?: string;
  readonly flag?: OptionFlag;
  readonly env?: readonly OptionEnv[];
  /** Markdown for other ways to set it, ending the docs table's "CLI / env" cell. */
  readonly alsoFrom?: string;
  /** The docs table's "meaning" cell (markdown). */
  readonly doc: string;
  readonly input?: Accepts<In>;
}

/** Builds a record; `input` names the config-file type when it is wider than the check's result. */
function option<Out, D extends Out, In = Out>(record: OptionRecord<In, Out, D>): OptionRecord<In, Out, D> {
  return record;
}
const accepts = <T>(): Accepts<T> => ({});

/** A boolean option, off unless set (its flag, if any, turns it on). */
const switchOption = (doc: string, flag?: OptionFlag, alsoFrom?: string) =>
  option({ default: false, check: parseBool, doc, ...(flag ? { flag } : {}), ...(alsoFrom ? { alsoFrom } : {}) });
const hookOption = (doc: string) => option({ default: [] as Hook[], check: hooks, doc, input: accepts<Hook | Hook[]>() });

/** Puma's method list less CONNECT, which node:http delivers as a tunnel, not a request. */
export const DEFAULT_HTTP_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'] as const;

/** A control token needs this many different characters (`aaaaaaaaaaaaaaaa` is refused). */
export const CONTROL_TOKEN_VARIETY = 6;
/**
 * The URI of a socket tspuma serves itself on (control app, health checks), or null. Only its type
 * is checked here: options.ts parses it as that listener's (binder-uri.ts's parseBind), whose error
 * names the listener and the schemes and parameters it takes.
 */
const socketUri = nullable((raw) => {
  if (typeof raw === 'string') return raw;
  throw new Expected('tcp://HOST:PORT or unix://PATH');
});

/** Alphabetised. Times are in seconds, as in Puma; Puma's default wherever Puma has one. */
export const RECORDS = {
  afterBooted: hookOption('Hook(s) run once every bind listens. A hook that throws is logged (`TSPUMA_ERR_HOOK`) and the server goes on.'),
  afterStopped: hookOption('Hook(s) run after a graceful stop, before exit.'),
  afterWorkerFork: hookOption('Cluster, in the primary: `(index)` after forking a worker.'),
  afterWorkerShutdown: hookOption('Cluster, in the primary: `(handle)` after a worker exited.'),
  app: option({
    default: undefined as string | AppInput | undefined,
    check: (raw): string | AppInput | undefined => {
      if (typeof raw === 'string') return nonEmptyString()(raw, false);
      if (typeof raw === 'function') return raw as AppInput;
      if (raw && typeof raw === 'object' && typeof (raw as { fetch?: unknown }).fetch === 'function') return raw as AppInput;
      throw new Expected('a path to a .ts/.mts/.cts/.tsx/.js/.mjs/.cjs/.jsx file, a handler function, or an object with fetch()');
    },
    defaultText: '`./app.ts`, `./app.js`, `./index.ts` (first found)',
    alsoFrom: '`APP` argument',
    doc: 'The app file (.ts, .mts, .tsx, .js, .mjs, .jsx as ES modules, JSX compiled as the tsconfig says; .cts, .cjs as CommonJS, required: `module.exports = app`), or in a config file the handler itself.',
  }),
  balanceBusyWorkers: switchOption(
    'Cluster: a worker whose event loop is over 90% busy answers with `Connection: close` so keep-alive clients reconnect elsewhere. Off by default, by measurement (`npm run bench:spread`, in a clone of the repository): with one connection keeping a worker busy, the kernel\'s shared-socket accept already sends new connections to the free worker (fast route p50 3-4 ms, p99 22-43 ms), while this option made clients that ignore `Connection: close` stall (p50 1.4 s).',
  ),
  balanceConnections: option({
    default: true,
    check: parseBool,
    doc: 'Cluster: a worker holding over a fifth more than its share of the keep-alive connections (the cluster\'s count over the workers, rounded up), and two more than the least loaded worker, answers that many of them with `Connection: close`, so their clients reconnect, most likely to a less busy worker. The workers share one accept queue, so a burst of new connections (a client\'s or proxy\'s pool opened at once, the reconnections after a restart) can all go to the worker that woke first and stay there. Judged at each check-in (every 250 ms while requests come). A client on a moved connection sees what a `maxKeepAlive` close shows it: `Connection: close` on a response, and requests it pipelined after that one are not run (it resends them on a new connection); autocannon, which ignores `Connection: close`, got no error and no stall with it on (10 and 100 connections: max latency 140-1,023 ms on, 153-1,014 ms off, at a load of 22-30).',
  }),
  beforeFork: hookOption('Cluster, in the primary: before the first fork.'),
  beforeRestart: hookOption('Cluster: before a phased or hot restart.'),
  beforeWorkerBoot: hookOption('Cluster, in the worker: `(index)` before the app loads; a throw fails the boot (retried with backoff: 1 s doubling to 60 s; while no worker has booted, `workerBootAttempts` failed boots of one worker end the primary with `TSPUMA_ERR_WORKER_BOOT`).'),
  beforeWorkerFork: hookOption('Cluster, in the primary: `(index)` before forking a worker.'),
  beforeWorkerShutdown: hookOption('Cluster, in the worker: `(index)` before it stops.'),
  bind: option({
    default: [] as string[],
    check: (raw): string[] => {
      const list: unknown[] = Array.isArray(raw) ? raw : [raw];
      if (list.length > 0 && list.every((b) => typeof b === 'string' && b.trim() !== '')) return list as string[];
      throw new Expected('a bind URI or an array of them (tcp://HOST:PORT, unix://PATH, ssl://HOST:PORT?cert=FILE&key=FILE)');
    },
    input: accepts<string | string[]>(),
    defaultText: '`tcp://127.0.0.1:9292` in development, `tcp://0.0.0.0:9292` otherwise',
    flag: { short: 'b', arg: 'URI', repeatable: true, help: 'Listen on URI: tcp://HOST:PORT[?backlog=N&low_latency=true&proxy_protocol=v1|v2|auto], unix://PATH, ssl://HOST:PORT?cert=FILE&key=FILE. Repeatable.' },
    doc: 'Listen URIs: `tcp://HOST:PORT?backlog=N&low_latency=BOOL`, `unix://PATH?mode=0660&backlog=N`, `ssl://HOST:PORT?cert=FILE&key=FILE&ca=FILE`. `backlog`: integer 1..65535, default 1024 (Puma\'s). `low_latency` (TCP_NODELAY): default true. `ssl://` files are PEM and checked at bind (`TSPUMA_ERR_BIND_TLS` names the file): the cert file must hold a certificate, the key file the unencrypted private key of that certificate (tspuma takes no passphrase). `proxy_protocol=v1|v2|auto` (`tcp://`, `unix://`): every connection must start with a PROXY protocol header of that version (HAProxy `send-proxy`, `send-proxy-v2`; `auto` takes either), whose source address becomes the connection\'s remote address (`REMOTE_ADDR`, `req.socket.remoteAddress`, the request log), independent of `trustProxy`; a connection without a valid header is closed before the app (`TSPUMA_ERR_PROXY_PROTOCOL`). See docs/deployment.md.',
  }),
  bodyBufferSize: option({
    default: 64 * 1024,
    check: integer(0, 16 * 1024 * 1024, 'an integer number of bytes from 0 (stream every body) to 16777216'),
    doc: 'Request bodies up to this many bytes (by `Content-Length`, and the first bytes of a chunked body) are read in full before the app is called, as Puma\'s reactor does: a slow upload holds no invocation slot and a malformed chunk gets 400 before the app runs. Larger bodies stream to the app. 0 streams every body. See "Request bodies" below.',
  }),
  bodyTimeout: option({
    default: 20,
    check: seconds(false),
    doc: 'A body read before the app (see `bodyBufferSize`) must be complete this many seconds after its head, or the request gets 408 (`TSPUMA_ERR_HTTP_BODY_TIMEOUT`) and never reaches the app.',
  }),
  controlToken: option({
    default: null,
    // Not `nullable`: a blank token (an unset variable in a unit file) is refused, not replaced.
    check: (raw) => {
      if (raw === null) return null;
      if (typeof raw === 'string' && /^[\w-]{16,200}$/.test(raw) && new Set(raw).size >= CONTROL_TOKEN_VARIETY) return raw;
      throw new Expected(`a token of 16 to 200 characters [A-Za-z0-9_-] with at least ${CONTROL_TOKEN_VARIETY} different characters (\`openssl rand -hex 16\` makes one), or no option for a random token${typeof raw === 'string' && raw.trim() === '' ? ' (a blank token is never replaced by a random one: a token set from an empty variable is a mistake)' : ''}`);
    },
    defaultNote: '(random, written to the -S state file only)',
    flag: { arg: 'TOKEN', help: 'Token the control app requires (16+ characters; default: random).' },
    env: [{ name: 'TSPUMA_CONTROL_TOKEN' }],
    doc: `Token the control app requires (\`?token=\` or \`Authorization: Bearer\`): 16 to 200 characters \`[A-Za-z0-9_-]\` with at least ${CONTROL_TOKEN_VARIETY} different characters. Unset, a random token is made and written to the \`-S\` state file (0600) only: tspuma never logs a token. Prefer \`TSPUMA_CONTROL_TOKEN\` (or the config file) to the flag: any user of the machine can read a process's command line. Workers never receive it: it is taken off their command line, \`TSPUMA_OPTS\` and environment.`,
  }),
  controlUrl: option({
    default: null,
    check: socketUri,
    flag: { arg: 'URI', help: 'Serve the control app (stats, stop, probes; restarts in cluster mode) on tcp://127.0.0.1:PORT or unix://PATH.' },
    doc: 'The control app, `tcp://127.0.0.1:9293` or `unix://PATH` (query `backlog`, and `mode` on `unix://`): GET /stats, /stop, /halt, /gc (runs only in a server started with `NODE_OPTIONS=--expose-gc`, which its workers inherit; the answer says when it did not, and `tspuma ctl gc` then exits 1) and the probes (`/probes`); in cluster mode also /restart, /phased-restart, /worker-count-up, /worker-count-down, /stack (`?wait=1`, `tspuma ctl ... --wait`, answers once the state is reached: a restart finished, the added worker booted, the removed worker exited, the server stopped and about to exit; `TSPUMA_ERR_CONTROL_WAIT` when it is not). Single mode serves it too, from its one process, and answers the cluster-only commands 409 `TSPUMA_ERR_CONTROL_MODE`. `tspuma ctl` prints the answer (JSON) on stdout and exits 0; a refusal or failure (a restart rolled back, a worker that failed to boot) goes to stderr as `tspuma ctl COMMAND: CODE: message`, with nothing on stdout, and exits 1. Not served by `start()` (embedding).',
  }),
  debug: switchOption(
    'Interpreter-level failure dumps: frames with receivers and locals, mapped to .ts lines ([DEBUGGING.md](../DEBUGGING.md)). Off, the diagnostics layer is never loaded: no process (a cluster primary, its workers, single mode) imports a capture, dump or inspector module, only the redaction rules every log line uses.',
    { short: 'd', help: 'Interpreter-level failure dumps (frames, receivers, locals; see DEBUGGING.md).' },
    '`TSPUMA_OPTS=-d`',
  ),
  drainDelay: option({
    default: 0,
    check: seconds(true),
    flag: { arg: 'SECONDS', help: 'After SIGTERM/SIGINT, keep serving this long with /ready answering 503, then stop gracefully.' },
    doc: 'After SIGTERM/SIGINT, seconds during which the server keeps serving while `healthUrl`\'s `/ready` answers 503, so a load balancer or Kubernetes takes the instance out of rotation before it stops accepting; then the graceful stop. Set it above the balancer\'s check interval times its fall count. A second signal stops at once (a SIGTERM within 2 s of the first, or a SIGINT within 100 ms, is the same stop).',
  }),
  dumpDir: option({
    default: null,
    check: nullable(nonEmptyString('a folder path')),
    env: [{ name: 'TSPUMA_DUMP_DIR', help: 'With -d: write each dump as .json and .txt here (default ./tspuma-dumps when CI=true).' }],
    doc: 'With debug: write each dump as .json and .txt here, mode 0600 (a folder tspuma creates is 0700). The folder is bounded for the whole server, oldest dumps removed ([one budget per server](../DEBUGGING.md#one-budget-per-server)). `CI=true` defaults it to `./tspuma-dumps`.',
  }),
  dumpFrames: option({ default: 32, check: integer(1, 200, 'an integer from 1 to 200'), doc: 'With debug: frames per dump (1..200).' }),
  environment: option({
    default: 'development',
    check: nonEmptyString('a non-empty string such as development or production'),
    flag: { short: 'e', arg: 'ENV', help: 'Environment name.' },
    env: [{ name: 'NODE_ENV' }],
    doc: 'Error responses carry details (the message, the stack and, with debug, the dump) only in `development` and `test`, exactly as written (Puma\'s rule); any other name (`production`, `prod`, `staging`) gets the generic body. `NODE_ENV` is set to it when unset.',
  }),
  firstDataTimeout: option({
    default: 30,
    check: seconds(false),
    doc: 'A connection that sent part of a request (head, or a body read before the app), then no byte for this long, gets 408 and is closed; measured from its last byte. One that sends nothing is closed silently after this long.',
  }),
  forceShutdownAfter: option({
    default: 'forever',
    check: (raw, fs): number | 'forever' | 'immediately' => {
      if (raw === 'forever' || raw === 'immediately') return raw;
      const expected = 'a number of seconds >= 0, "forever" or "immediately"';
      const n = parseNumber(raw, fs, expected, false);
      if (n < 0) throw new Expected(expected);
      return n;
    },
    doc: 'After SIGTERM/SIGINT, requests still running after this many seconds get 503 (`\'immediately\'` = 0).',
  }),
  headersTimeout: option({
    default: 20,
    check: seconds(false),
    doc: 'A request head must be complete this many seconds after its first byte, however the bytes trickle in, or it gets 408 (`TSPUMA_ERR_HTTP_HEADERS_TIMEOUT`): a client dripping a byte now and then cannot hold a connection.',
  }),
  healthCheckTimeout: option({
    default: 2,
    check: seconds(false),
    flag: { arg: 'SECONDS', help: "How long the app's ready() or health() may take before /ready or /health fails." },
    doc: "Seconds the app's own `ready()` or `health()` export may take before the check counts as failed (`/ready` or `/health` answers 503 with that reason). The app's checks run only when tspuma's own answer is a success.",
  }),
  healthUrl: option({
    default: null,
    check: socketUri,
    flag: { arg: 'URI', help: 'Answer GET /health and /ready (no token) on tcp://HOST:PORT or unix://PATH.' },
    doc: 'Health checks on their own socket (`tcp://HOST:PORT` or `unix://PATH`; query `backlog`, and `mode` on `unix://`), outside the app and its invocation slots, without a token: `GET /health` is 200 while the process runs; `GET /ready` is 200 once booted (in cluster mode: a worker serves) and 503 while booting or draining (`drainDelay`, stop). In cluster mode the primary answers.',
  }),
  httpContentLengthLimit: option({
    default: 100 * 1024 * 1024,
    check: nullable(integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer number of bytes, or null')),
    defaultNote: '(100 MiB)',
    doc: 'Request bodies over this many bytes get 413: by `Content-Length` before the app runs, or counted as a chunked body arrives. `null`: no limit.',
  }),
  idleTimeout: option({
    default: null,
    check: nullable(seconds(false)),
    defaultNote: '(never)',
    doc: 'Stop the server (exit 0) after this long without a request.',
  }),
  inspect: option({
    default: null,
    defaultText: 'on with --debug, at 127.0.0.1:9229',
    check: parseInspect,
    input: accepts<boolean | string | number | null>(),
    flag: { arg: 'HOST:PORT', optional: true, help: 'DevTools inspectors: discovery (with the primary\'s target) on PORT, worker i on PORT+2+i; --inspect=off disables.' },
    doc: 'DevTools inspectors (DEBUGGING.md, "DevTools"): discovery (`/json/list` of every process, loopback-only) on PORT, which also serves the primary\'s (or the single process\'s) own target, worker i on PORT+2+i. `null`: on when `debug` is, at `127.0.0.1:9229`; `true`: the same without debug; `false` (`--inspect=off`): off even with debug. A busy port is replaced by a free one with a warning. A host other than loopback prints a security warning.',
  }),
  logLevel: option({
    default: 'info',
    check: (raw): LogLevel => {
      const level = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
      throw new Expected(`one of ${LOG_LEVELS.join(', ')}`);
    },
    flag: { arg: 'LEVEL', help: 'trace, debug, info, warn or error (debug adds a line per connection and deadline expiry).' },
    env: [{ name: 'TSPUMA_LOG_LEVEL' }],
    doc: '`trace`, `debug`, `info`, `warn` or `error`. `debug` adds a line per bind, accepted connection, connection-deadline expiry and check-in. `quiet: true` lowers it to `warn`.',
  }),
  logRequests: switchOption(
    'One log line per request, also under `quiet`: `GET /api/users/1 200 3.59ms 312B 127.0.0.1 3f9a1c2e-1a`, with the same fields as a `request` object in JSON: `id`, `method`, `url` as received (before a router rewrites `req.url`; secret query values redacted, see `redact`), `status` (`null`, `-` in the message, when the client left before any byte of the response was sent), `ms`, `bytes` sent for this response (head and body), `remote` (the client address on arrival). One line per request on a terminal. The id is the request\'s `X-Request-Id` when well-formed (1..128 of `A-Za-z0-9._:@/+=~-`), else one tspuma makes (a per-process prefix and a counter); apps read it as `req.id` (Node listeners, Express; `incoming.id` for fetch handlers) or `env[\'tspuma.request_id\']` (Rack), and dumps and the 500 page show it. An id the app assigns that is not one plain token (spaces, quotes, control characters) is quoted and escaped in the message (`"abc def\\n…"`), and kept as is in `request.id`.',
    { help: 'Log one line per request.' },
  ),
  loopBlockedWarning: option({
    default: 1,
    check: seconds(true),
    doc: 'A process whose event loop does not run for longer than this many seconds (a regex backtracking, a large `JSON.parse`, a synchronous crypto or file call: every other request waits behind it) logs a warning naming the request that ran, the CPU used meanwhile and how many requests waited (`TSPUMA_ERR_LOOP_BLOCKED`; at most one line per 10 s, the blocks between counted into it); `ctl stats` counts them (`loop_blocked`). Measured by a timer 4 times per threshold (at most every 250 ms). 0 disables.',
  }),
  lowlevelErrorHandler: option({
    default: null,
    check: functionOrNull<LowlevelErrorHandler>('a function (err, env, status) => response, or null'),
    doc: '`(err, env, status) => response`; see below.',
  }),
  maxKeepAlive: option({
    default: 999,
    check: integer(0, 1_000_000, 'an integer from 0 (unlimited) to 1000000'),
    doc: 'Requests on one keep-alive connection, at most, before tspuma answers with `Connection: close` and closes it; requests the client pipelined after that one are not run (the client resends them on a new connection). Each connection\'s own limit lies in the top eighth (999: from 876 to 999; exact below 16), spread over the connections so that a client pool\'s, opened together and served at one rate, do not all close and reconnect at once (a burst that, in a cluster, the first worker awake takes). When every limit lies above 64, the process\'s 64th request, whichever connection carries it, is answered with `Connection: close` too: its first close for a request count comes while node\'s code is cold, not hundreds of requests a connection in, where that path\'s first run throws away optimized code of node\'s request path. 0 = unlimited.',
  }),
  onDump: option({
    default: null,
    check: functionOrNull<OnDump>('a function (dump, { text, path }) => void or a promise, or null'),
    doc: 'With debug (config file only): `(dump, { text, path })` called once for each new failure site (repeats are counted, not delivered; a cluster delivers a site once), the primary\'s hung-worker autopsies included, after the dump was printed and written and after the failing request was answered: send it to an error tracker or a bucket (DEBUGGING.md, "Sending dumps elsewhere"). `dump` is a copy of the JSON model, `text` the rendered dump, `path` its .json file or null. A throw, a rejection or a call unsettled after 10 s is logged (`TSPUMA_ERR_DUMP_SINK`) and changes nothing else.',
  }),
  outOfBand: hookOption('When the serving process\'s last request finished and none is queued (Puma\'s out_of_band): in a cluster worker with `(index)`, in single mode with no argument.'),
  persistentTimeout: option({ default: 20, check: seconds(false), doc: 'An idle keep-alive connection is closed after this long.' }),
  pidfile: option({
    default: null,
    check: nullable(nonEmptyString('a file path')),
    flag: { arg: 'FILE', help: 'Write the pid to FILE; removed at stop.' },
    doc: 'Write the pid here at boot, remove it at stop.',
  }),
  port: option({
    default: null,
    check: nullable(integer(0, 65535, 'an integer from 0 to 65535')),
    flag: { short: 'p', arg: 'PORT', help: 'Listen on tcp://HOST:PORT; replaces binds from lower-precedence sources.' },
    env: [{ name: 'PORT' }],
    doc: 'Shorthand for `bind: tcp://HOST:PORT` (HOST as in the bind default). It replaces binds that come from a lower-precedence source, so a platform\'s `PORT` wins over a config file\'s `bind`.',
  }),
  preload: switchOption(
    'Cluster: the app is loaded once before forking, so a broken app fails once, fast (its coded line, with debug its `[boot]` dump; no worker is forked). The load runs in a process of its own that exits once the import finished: the app\'s module-level jobs (a `setInterval`, a queue poller) never run in the primary. Workers load it again: Node cannot share a heap. Without it, an app that throws at import fails after `workerBootAttempts` boots of one worker (3 by default: about 3 s of backoff, `TSPUMA_ERR_WORKER_BOOT`).',
    { help: 'Cluster: load the app once before forking (in a process that then exits), to fail fast.' },
  ),
  probeExpiry: option({
    default: 900,
    check: seconds(false),
    doc: 'Seconds a probe (`tspuma probe`, the control app\'s `/probes`) stays set when it names no `--for`; then it is removed from every worker and the removal logged. `--for` may ask for less or more, up to a day.',
  }),
  probeLiveEdit: option({
    default: true,
    check: parseBool,
    env: [{ name: 'TSPUMA_PROBE_LIVE_EDIT', help: 'Same as probeLiveEdit: 0 keeps every probe on a V8 breakpoint.' }],
    doc: 'A probe in a process DevTools cannot attach to (no `inspect`) is armed by V8\'s live edit where that is sound: its gate, and its `--when` when that stays in a subset that cannot run the app\'s code (names in scope, data-property reads, comparisons), compiled into the script at the end of the line above the probed statement instead of a breakpoint whose condition V8 evaluates at every run of the line, so a pass costs tens of instructions instead of about 450,000 and a false `--when` on a busy route is not suspended by the pause budget. The breakpoint stays for a `--when` outside that subset (a call, `new`, a computed key), a column, replay, with `inspect` (an edit drops a DevTools client\'s breakpoints), a probe armed as its file is parsed, a script over 100 KB or 1,500 functions, and where V8 refuses the edit (DEBUGGING.md, "What a hit costs"). `false` keeps every probe on a breakpoint.',
  }),
  probeLogRate: option({
    default: 100,
    check: integer(1, 10_000, 'an integer from 1 to 10000'),
    doc: 'Log lines per second a logpoint writes in each worker (single mode: in its one process) (its own `--rate` may ask for fewer or more, up to 10000); hits beyond it are counted, not logged, and do not pause the worker.',
  }),
  probeMax: option({
    default: 20,
    check: integer(1, 1000, 'an integer from 1 to 1000'),
    doc: 'The most probes set at once; one more is refused with `TSPUMA_ERR_PROBE_LIMIT`.',
  }),
  probePauseBudget: option({
    default: 200,
    check: integer(1, 1000, 'a number of milliseconds from 1 to 1000'),
    doc: 'Milliseconds per second a worker (single mode: its one process) may spend paused for logpoints and snapshots (200: probes never take more than a fifth of a worker); past it, the probe that took most of that second is suspended in that worker with a `TSPUMA_ERR_PROBE_BUDGET` warning (set it again to resume). Counted on the worker thread\'s own clocks: a pause is charged the CPU time the thread ran during it (Linux; elsewhere the smaller of its wall time and the process\'s CPU time), and a second is one of wall time less the time the thread waited for a CPU, so a loaded machine neither spends the budget on one descheduled pause nor lets a probe that holds the thread most of its turns run on.',
  }),
  probeSnapshotRate: option({
    default: 1,
    check: integer(1, 100, 'an integer from 1 to 100'),
    doc: 'Snapshots per second a snapshot probe writes in each worker (single mode: in its one process) (its own `--rate` may ask for fewer or more, up to 100); hits beyond it do not pause the worker.',
  }),
  quiet: switchOption(
    'Log warnings and errors only (and request lines, when `logRequests` asks for them).',
    { short: 'q', help: 'Log warnings and errors only (and request lines with --log-requests).' },
  ),
  redact: option({
    default: null,
    check: nullable(parseRegexSource),
    doc: 'Extra secret names (a regular expression source) added to the built-in words (`password`, `secret`, `token`, `apikey`, ... see DEBUGGING.md, Redaction), matched whole against the segments of a name (`ssn` catches `userSsn`, not `lessons`): in dumps (with debug), and for the query parameters whose values log lines replace by `[redacted]` (always).',
  }),
  redactCardNumbers: option({
    default: true,
    check: parseBool,
    env: [{ name: 'TSPUMA_REDACT_CARD_NUMBERS', help: 'Same as redactCardNumbers: false keeps card numbers as they are.' }],
    doc: 'Replace payment card numbers (13 to 19 digits, spaces or dashes allowed, with a card network\'s prefix and a valid Luhn check digit) by `[redacted]` wherever tspuma writes a value: dumps, log lines, the development 500 page, OpenTelemetry events, as error trackers do by default. Turn it off when such numbers are not secrets in your data (test card ranges, identifiers that happen to pass Luhn).',
  }),
  redactConsole: option({
    default: true,
    check: parseBool,
    env: [{ name: 'TSPUMA_REDACT_CONSOLE', help: 'Same as redactConsole: false writes console.error and console.warn as the app passed them.' }],
    doc: 'Apply the value rules of log lines (secret names, credential and key shapes, URL passwords, secret query values, card numbers) to what the app\'s process writes with `console.error` and `console.warn`, where Express, Hono and most error middleware print the errors they answer themselves (the message, the error\'s own fields, a body that did not parse), and to the values of the secret headers (`Authorization` and its token, `X-Api-Key`, cookies, names matching `redact`) of the requests in the app when the line is written, and of the last 8 that left it (Express\'s final handler prints after its 500 went out), wherever the message quotes them. A line with nothing secret is written exactly as given; a line with a secret is written as text with `[redacted]` in its place. `console.log` and direct writes to `process.stderr` are left as the app wrote them.',
  }),
  requestTimeout: option({
    default: 60,
    check: seconds(true),
    doc: 'A request whose response head the app has not sent in this long gets 503 through the lowlevel handler and a log line (`TSPUMA_ERR_REQUEST_TIMEOUT`); anything the app writes later is dropped. It bounds the time to the head only: a response already streaming is bounded by `responseStallTimeout`. 0 disables. Puma has no such timeout.',
  }),
  responseStallTimeout: option({
    default: 60,
    check: seconds(false),
    doc: 'Once a response\'s head is out, requestTimeout no longer applies to it: the response is closed when none of its bytes reach the client for this many seconds: a client that stopped reading, or an app that stopped writing (`TSPUMA_ERR_RESPONSE_STALLED`, logged). A download that keeps moving, however slowly, is never cut.',
  }),
  shutdownHookTimeout: option({
    default: 10,
    check: seconds(false),
    flag: { arg: 'SECONDS', help: "How long the app's shutdown() export may run at stop." },
    doc: "Seconds the app's `shutdown()` export (closing its database pool, flushing queues) may run once the server has stopped serving (each cluster worker runs its own); after that the stop goes on without it and a warning is logged.",
  }),
  state: option({
    default: null,
    check: nullable(nonEmptyString('a file path')),
    flag: { short: 'S', arg: 'FILE', help: 'Write pid, control URL and token here for `tspuma ctl -S FILE`.' },
    doc: 'A JSON state file (pid, control URL, token, inspectors; mode 0600, also when the file was already there with another mode) for `tspuma ctl|probe|inspect -S FILE`, in cluster and single mode (not under `start()`); removed at stop.',
  }),
  supportedHttpMethods: option({
    default: [...DEFAULT_HTTP_METHODS] as 'any' | string[],
    check: parseMethods,
    doc: 'Other methods get 501 before the app, for every app kind (TRACE, in the list, reaches fetch apps too). Add one in a config file, e.g. `[...defaults, \'PURGE\']`; `\'any\'` allows every method llhttp parses. CONNECT always gets 501.',
  }),
  tag: option({
    default: null,
    check: nullable(nonEmptyString()),
    flag: { arg: 'NAME', help: 'Name shown in the process title.' },
    doc: 'Shown in the process title: `tspuma 0.1.0 (http://127.0.0.1:9292) [tag]`.',
  }),
  threads: option({
    default: { min: 0, max: 1024 },
    check: parseThreads,
    flag: {
      short: 't',
      arg: 'MIN:MAX',
      // Puma: -t N means N:N.
      read: (text) => (/^\s*\d+\s*$/.test(text) ? `${text}:${text}` : text),
      help: 'Most app invocations in flight at once (MAX); a single N means N:N, as in Puma.',
    },
    env: [
      { name: 'TSPUMA_MIN_THREADS', read: (text) => ({ min: envCount(text) }), help: 'threads.min.' },
      { name: 'TSPUMA_MAX_THREADS', read: (text) => ({ max: envCount(text) }), help: 'threads.max.' },
    ],
    alsoFrom: '`-t N` = `-t N:N`',
    doc: 'See below.',
  }),
  trustProxy: option({
    default: null as string[] | null,
    check: nullable((raw): string[] => {
      const expected = `addresses, CIDR ranges or the names ${TRUST_NAMES.join(', ')} (a list, or comma-separated text), e.g. "loopback,10.0.0.0/8"`;
      const list = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw;
      if (!Array.isArray(list) || list.length === 0 || !list.every((e) => typeof e === 'string')) throw new Expected(expected);
      try {
        compileTrust(list as string[]);
      } catch (err) {
        throw new Expected(`${expected} (${(err as Error).message})`);
      }
      return list as string[];
    }),
    input: accepts<string | string[] | null>(),
    flag: { arg: 'LIST', help: 'Peers whose X-Forwarded-For/-Proto/-Host (or Forwarded) name the client: addresses, CIDRs, loopback, linklocal, uniquelocal, unix.' },
    env: [{ name: 'TSPUMA_TRUST_PROXY' }],
    doc: 'Off by default: the client is the connection\'s peer (or the address a PROXY protocol header named, see `bind`). Set to the proxies in front of tspuma (addresses, CIDR ranges, `loopback`, `linklocal`, `uniquelocal`, and `unix` for the peer of a `unix://` bind, which has no address) and, for a request from one of them, the client\'s address is read from `X-Forwarded-For` (walking right to left while each hop is trusted), the scheme from `X-Forwarded-Proto` and the host from `X-Forwarded-Host` (their last values), or from `Forwarded` (see `trustProxyHeaders`). It shows in the Rack env (`REMOTE_ADDR`, `rack.url_scheme`, `SERVER_NAME`, `SERVER_PORT`), the fetch `Request`\'s URL, `req.clientAddress` (Node listeners; `req.socket.remoteAddress` stays the proxy), the request log\'s `remote` and dumps. A request from any other peer keeps its own address, whatever headers it sent. See docs/deployment.md.',
  }),
  trustProxyHeaders: option({
    default: 'x-forwarded' as ForwardedHeaders,
    check: (raw): ForwardedHeaders => {
      if (typeof raw === 'string' && (FORWARDED_HEADERS as readonly string[]).includes(raw.trim().toLowerCase())) return raw.trim().toLowerCase() as ForwardedHeaders;
      throw new Expected(`one of ${FORWARDED_HEADERS.map((h) => `'${h}'`).join(', ')}`);
    },
    flag: { arg: 'NAME', help: 'With --trust-proxy: read x-forwarded (X-Forwarded-For/-Proto/-Host) or forwarded (RFC 7239).' },
    doc: 'With `trustProxy`: `\'x-forwarded\'` reads `X-Forwarded-For`/`-Proto`/`-Host`, `\'forwarded\'` reads `Forwarded` (`for`, `proto`, `host`; the outermost element a trusted proxy added gives scheme and host). The other family is ignored, since a proxy passes a client\'s header it does not set through unchanged: pick the one your proxy writes.',
  }),
  upgradedIdleTimeout: option({
    default: 300,
    check: nullable(seconds(false)),
    doc: 'Seconds with no byte either way before a WebSocket (close 1001 "idle timeout") or an event stream (its end) is closed by the connection-deadline sweep; `null` never. Send heartbeats to keep quiet ones open.',
  }),
  workerAutopsyTimeout: option({
    default: 2,
    check: seconds(true),
    doc: 'Cluster with the inspector on: before a worker that missed `workerTimeout` is killed, the primary pauses it and writes its stack (frames, locals, requests in flight) as a dump, taking at most this many seconds. 0 disables.',
  }),
  workerBootAttempts: option({
    default: 3,
    check: integer(1, 100, 'an integer from 1 to 100'),
    doc: 'Cluster: while no worker has booted yet, a worker index whose boot fails this many times in a row (the app threw at import, a `beforeWorkerBoot` hook threw, the worker exited or missed `workerBootTimeout`) ends the primary with `TSPUMA_ERR_WORKER_BOOT` and exit status 1, so a deploy that cannot boot fails instead of retrying for ever; between attempts the index backs off 1 s, doubling. 1 gives up at the first failed boot (a supervisor that restarts the server, a CI run). Once a worker has booted, failed boots are retried with backoff however many there are.',
  }),
  workerBootTimeout: option({
    default: 60,
    check: seconds(false),
    doc: 'Cluster: a worker not booted in this long is killed ("failed to boot within") and replaced, as any failed boot: with backoff, and counted towards the `workerBootAttempts` that end a primary no worker has booted in. During a restart it fails the restart\'s new worker (docs/architecture.md, "Restarts that fail").',
  }),
  workerCheckInterval: option({ default: 5, check: seconds(false), doc: 'Cluster: how often workers check in with their stats.' }),
  workerShutdownTimeout: option({ default: 30, check: seconds(false), doc: 'Cluster: a stopping worker is killed (SIGKILL) after this long.' }),
  workerTimeout: option({
    default: 60,
    check: seconds(false),
    doc: 'Cluster: a worker that misses check-ins this long is killed ("failed to check in within") and replaced. Must exceed `workerCheckInterval` (`TSPUMA_ERR_OPTION_CONFLICT`).',
  }),
  workers: option({
    default: 0 as number | 'auto',
    check: (raw, fs): number | 'auto' => {
      if (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') return 'auto';
      return integer(0, 1024, 'an integer from 0 to 1024, or \'auto\'')(raw, fs);
    },
    flag: { short: 'w', arg: 'N', help: 'Worker processes sharing the listening sockets (cluster mode); 0 is single mode; auto: one per CPU the container may use.' },
    env: [{ name: 'WEB_CONCURRENCY' }],
    doc: 'Worker processes sharing the listening sockets, which the primary binds once and holds for its whole life (the kernel hands each connection to one worker, Puma\'s model; docs/deployment.md). 0 is single mode. `\'auto\'` (`-w auto`, `WEB_CONCURRENCY=auto`): `os.availableParallelism()`, lowered to the cgroup CPU quota rounded up (v2 `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`), at least 1; the `Workers:` boot line says how the number was found.',
  }),
};

type Records = typeof RECORDS;
export type OptionName = keyof Records;
/** What a config file may write for an option. */
export type ConfigValue<K extends OptionName> = Records[K] extends OptionRecord<infer In, infer _Out, infer _D> ? In : never;
/** An option's value after its check. */
export type CheckedValue<K extends OptionName> = Records[K] extends OptionRecord<infer _In, infer Out, infer _D> ? Out : never;
/** An option's default, as precisely as its record states it. */
export type DefaultValue<K extends OptionName> = Records[K]['default'];

export const OPTION_NAMES = Object.keys(RECORDS) as OptionName[];

/** Every option's default, alphabetised; docs/configuration.md shows them. */
export const DEFAULTS = Object.freeze(Object.fromEntries(OPTION_NAMES.map((k) => [k, RECORDS[k].default]))) as {
  readonly [K in OptionName]: DefaultValue<K>;
};

/** The long flag of an option: its name in kebab case (controlUrl → control-url). */
export function longFlag(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A record seen without its value types, for code that walks every option. */
export function recordOf(name: OptionName): OptionRecord {
  return RECORDS[name] as OptionRecord;
}

/** A default as a config file would write it: 'forever', [], { min: 0, max: 1024 }. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value && typeof value === 'object') return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`).join(', ')} }`;
  return String(value);
}

/** An option's default for people (markdown): the value, or the record's words for it. */
export function shownDefault(name: OptionName): string {
  const r = recordOf(name);
  if (r.defaultText !== undefined) return r.defaultText;
  return `\`${formatValue(r.default)}\`${r.defaultNote ? ` ${r.defaultNote}` : ''}`;
}
