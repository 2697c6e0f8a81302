// tspuma's options, commented (docs/configuration.md lists every one). Run: npx tspuma -C examples/tspuma.config.ts
// Each value is the option's default, except app, bind, lowlevelErrorHandler and afterBooted,
// which show what a value looks like (test/unit/option-records.test.ts checks this).
// Precedence: command line > TSPUMA_OPTS > environment variables > this file > defaults.
// Times are in seconds, as in Puma. docs/configuration.md explains each option.
import { defineConfig } from 'tspuma';

export default defineConfig({
  // The app file, relative to this file. Default: the APP argument, else ./app.ts, ./app.js, ./index.ts.
  app: './hello.ts',

  // Where to listen. Default: tcp://127.0.0.1:9292 in development, tcp://0.0.0.0:9292 otherwise.
  // tcp://HOST:PORT?backlog=1024&low_latency=true | unix://PATH?mode=0660 | ssl://HOST:PORT?cert=FILE&key=FILE
  bind: ['tcp://127.0.0.1:9292?backlog=1024'],

  // Shorthand for bind tcp://HOST:PORT; PORT in the environment sets it too. Default: none.
  // port: 9292,

  // Most app invocations in flight at once (max); more wait in a FIFO queue. min is reported only:
  // an event loop has no threads to pre-spawn.
  threads: { min: 0, max: 1024 },

  // Worker processes sharing the listening sockets (cluster mode); 0 is single mode. WEB_CONCURRENCY sets it too.
  workers: 0,
  // Cluster: a worker over 90% busy answers Connection: close so clients move; measured worse
  // than the kernel's own balancing (npm run bench:spread).
  balanceBusyWorkers: false,
  // Cluster: the primary loads the app once before forking, to fail fast.
  preload: false,
  // Cluster: workers check in this often (seconds).
  workerCheckInterval: 5,
  // Cluster: a worker that misses check-ins this long is killed and replaced; must exceed workerCheckInterval.
  workerTimeout: 60,
  // Cluster, with an inspector: before killing such a worker, pause it and dump its stack for at most this long; 0: kill at once.
  workerAutopsyTimeout: 2,
  // Cluster: a worker that has not booted in this long is killed and replaced.
  workerBootTimeout: 60,
  // Cluster: until a worker has booted, this many failed boots in a row of one worker end the primary (exit 1); 1: give up at once.
  workerBootAttempts: 3,
  // Cluster: a stopping worker gets this long before SIGKILL.
  workerShutdownTimeout: 30,
  // Cluster: the control app (stats, restarts) and its token (when null: random, written to the -S state file only, never logged).
  controlUrl: null,
  controlToken: null,
  // Cluster: state file with pid, control URL and token for `tspuma ctl -S FILE`.
  state: null,

  // NODE_ENV sets it too. 'production' hides error details from clients.
  environment: 'development',

  // A connection that sends part of a request and then nothing for this long gets 408 (Puma's first_data_timeout).
  firstDataTimeout: 30,
  // A request head must be complete this long after its first byte, or 408.
  headersTimeout: 20,
  // A body read before the app (up to bodyBufferSize) must be complete this long after its head, or 408.
  bodyTimeout: 20,
  // An idle keep-alive connection is closed after this long (Puma's persistent_timeout).
  persistentTimeout: 20,
  // Stop the server when no request arrives for this long; null never (Puma's idle_timeout).
  idleTimeout: null,
  // Seconds without a byte before a WebSocket or an event stream is closed; null: never.
  upgradedIdleTimeout: 300,
  // A request whose response head the app has not sent in this long gets 503 through lowlevelErrorHandler; 0 disables.
  requestTimeout: 60,
  // A response whose head is out is closed when none of its bytes move for this long (a slow download is never cut).
  responseStallTimeout: 60,
  // After SIGTERM, requests still running after this long get 503: seconds, 'forever' or 'immediately'.
  forceShutdownAfter: 'forever',

  // Bodies larger than this many bytes get 413 (Puma's http_content_length_limit); null for no limit.
  httpContentLengthLimit: 100 * 1024 * 1024,
  // Bodies up to this many bytes are read before the app runs (Puma's reactor does the same); 0 streams all.
  bodyBufferSize: 65536,
  // Requests served on one keep-alive connection before it is closed (Puma's max_keep_alive).
  maxKeepAlive: 999,
  // Methods the app may receive; others get 501. 'any' allows every method. Puma's list less CONNECT.
  supportedHttpMethods: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'],

  // Called for app errors (500), malformed requests (400), 408, 413, 431, 501 and 503. Return a response in
  // any app form, or nothing for the default. A handler that throws is logged and the default is used.
  lowlevelErrorHandler(err, env, status) {
    return [status, { 'content-type': 'text/plain' }, [`An error has occurred (${status}). Try again.\n`]];
  },

  // trace, debug, info, warn or error (TSPUMA_LOG_LEVEL, --log-level). debug adds a line per connection.
  logLevel: 'info',
  // Log one line per request.
  logRequests: false,
  // Log warnings and errors only.
  quiet: false,
  // Shown in the process title: "tspuma 0.1.0 (http://127.0.0.1:9292) [tag]".
  tag: null,
  // Write the pid here at boot; removed at stop.
  pidfile: null,
  // Interpreter-level failure dumps (-d, TSPUMA_OPTS=-d); see DEBUGGING.md.
  debug: false,
  // With debug: folder for .json/.txt dumps. null: TSPUMA_DUMP_DIR, or ./tspuma-dumps when CI=true.
  dumpDir: null,
  // With debug: frames per dump.
  dumpFrames: 32,
  // With debug: extra names to redact, a regular expression source, added to
  // password|passwd|secret|token|api[-_]?key|credential|private.
  redact: null,
  // Card numbers (Luhn-valid, a card network's prefix) are [redacted] in every output; false keeps them.
  redactCardNumbers: true,
  // DevTools inspectors (--inspect): discovery (and the primary's target) on PORT, worker i on PORT+2+i; loopback unless a
  // host is given. true: 127.0.0.1:9229; false: off even with debug. null: on at 127.0.0.1:9229 when debug is.
  inspect: null,

  // Hooks. A hook that throws is logged with its name; the server goes on (a throwing
  // beforeWorkerBoot fails that worker's boot, which is retried with backoff).
  afterBooted: [() => console.log('afterBooted: serving')],
  afterStopped: [],
  beforeFork: [],
  beforeWorkerFork: [],
  afterWorkerFork: [],
  beforeWorkerBoot: [],
  beforeWorkerShutdown: [],
  afterWorkerShutdown: [],
  beforeRestart: [],
  outOfBand: [],
});
