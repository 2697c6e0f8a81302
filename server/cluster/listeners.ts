// A cluster's listening sockets, Puma's way: the primary binds every bind once (binder.ts
// bindForWorkers), makes it listen before the first fork (listenKept) and holds the sockets for
// its whole life; each worker is forked with copies of them (fds after its IPC channel, beside the
// sockets systemd passed) and listens on those. All workers share one accept queue per bind, and
// no worker's death (not even the only one's) closes one: connections made while no worker
// listens (the first boot included) wait in its backlog, and a port-0 bind keeps its port across
// respawns and restarts.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { bindForWorkers, listenError, type KeptBind } from '../binder.js';
import type { BindSpec } from '../binder-uri.js';
import type { DiagnosticsHook } from '../debug-hook.js';
import type { Options } from '../options.js';
import { WORKER_BINDS_ENV, kDumped } from '../shared-names.js';
import { LISTEN_FDS_START, WORKER_LISTEN_FDS_ENV, isFdBind, workerListenFds, type FdBindSpec } from '../systemd.js';

/**
 * Binds every bind but systemd's (those listen already), in order, and makes them listen
 * (listenKept); rejects with the first coded listen error after closing the ones already bound.
 */
export async function bindListeners(options: Options, log: Logger, diagnostics: DiagnosticsHook | null): Promise<KeptBind[]> {
  const kept: KeptBind[] = [];
  try {
    for (const spec of options.bind) if (!isFdBind(spec)) kept.push(await bindForWorkers(spec, log, diagnostics));
  } catch (err) {
    for (const k of kept) k.close();
    throw err;
  }
  await listenKept(kept, log, diagnostics);
  return kept;
}

/**
 * Makes the kept sockets listen before any worker is forked (in the primary, else
 * listenInHelper), with one line per bind. A socket another process took between bind and listen
 * (a race only: the bind checked it) fails the start with its coded listen error (dumped with -d)
 * after closing them all; a helper that cannot run leaves the listen to the first worker, with a
 * warning.
 */
export async function listenKept(kept: readonly KeptBind[], log: Logger, diagnostics: DiagnosticsHook | null): Promise<void> {
  if (kept.length === 0) return;
  const snapshot = diagnostics?.snapshot('listen');
  let listening: readonly (string | null)[] | null = listenInProcess(kept);
  try {
    listening ??= await listenInHelper(kept.map((k) => ({ fd: k.fd, backlog: k.spec.backlog })));
  } catch (err) {
    // No worse than before the helper existed: the first worker's listen() makes them listen.
    log.warn({ err }, `The binds could not be made to listen before the workers boot (${(err as Error).message}): until the first worker has booted, connections are refused`);
  }
  const failed = listening?.findIndex((code) => code !== null) ?? -1;
  if (failed !== -1) {
    const k = kept[failed]!;
    const coded = listenError(Object.assign(new Error(`listen ${listening![failed]} ${k.url}`), { code: listening![failed]!, syscall: 'listen' }), k.spec);
    if (diagnostics) {
      diagnostics.report(coded, { phase: 'listen', kind: 'listen', snapshot, context: { uri: k.spec.uri, backlog: k.spec.backlog } });
      Object.defineProperty(coded, kDumped, { value: true });
    }
    for (const x of kept) x.close();
    throw coded;
  }
  if (listening) for (const k of kept) log.info({ bind: k.url, backlog: k.spec.backlog }, `- Listening on ${k.url} before the workers boot (backlog ${k.spec.backlog}): until a worker has booted, connections wait in the backlog`);
}

/**
 * The kept sockets made to listen by the primary itself, which never accepts on them
 * (KeptBind.listen): one result per socket, null or the OS error code; null where this node
 * cannot (the helper process then does it). Stops at the first error, as the helper reports it.
 */
function listenInProcess(kept: readonly KeptBind[]): (string | null)[] | null {
  const results: (string | null)[] = [];
  try {
    for (const k of kept) {
      const code = k.listen(k.spec.backlog);
      results.push(code);
      if (code !== null) return [...results, ...kept.slice(results.length).map(() => null)];
    }
  } catch {
    return null;
  }
  return results;
}

/** How long the listen helper may take before it is killed and the binds left to the first worker. */
const HELPER_TIMEOUT_MS = 15_000;

/**
 * The helper's program: listens on fds 3.. (each with its backlog, argv[1] as JSON) and writes one
 * result per fd (null, or the error code) before its event loop ever runs: 'listening' and 'error'
 * come on process.nextTick, which runs before the first poll, so it never accepts a connection.
 */
const HELPER = `const net=require('node:net'),fs=require('node:fs');const b=JSON.parse(process.argv[1]);const out=[];let n=0;
const done=(i,c)=>{out[i]=c;if(++n===b.length){fs.writeSync(1,JSON.stringify(out));process.exit(0)}};
b.forEach((backlog,i)=>{const s=net.createServer();s.once('listening',()=>done(i,null));s.once('error',(e)=>done(i,e.code||e.message));s.listen({fd:3+i,backlog})});`;

/**
 * Puts the kept sockets in LISTEN state, each with its backlog, so that connections made before
 * any worker listens (the first boot of a fresh start: a supervisor's restart after a crash) wait
 * in the backlog, as under Puma, whose master listens before it forks. The fallback of
 * listenInProcess, where this node's handles do not let the primary listen without accepting
 * (KeptBind.listen throws; node's own listen() also accepts, and the primary never serves): a
 * short-lived child does it on copies of the sockets (the LISTEN state belongs to the socket, not
 * to the process) and exits without accepting; the worker's own listen() later is a second
 * listen(2) on a listening socket, which keeps its queue. Resolves with one result per socket:
 * null, or the OS error code.
 */
export function listenInHelper(sockets: readonly { fd: number; backlog: number }[]): Promise<(string | null)[]> {
  return new Promise((resolve, reject) => {
    // None of the primary's flags and no NODE_OPTIONS (the app's preloads): node alone. Without
    // NODE_EXTRA_CA_CERTS too, which node parses at start (tens of ms of CPU) for TLS it never does.
    const env = { ...process.env, NODE_OPTIONS: undefined, NODE_EXTRA_CA_CERTS: undefined };
    const child = spawn(process.execPath, ['-e', HELPER, JSON.stringify(sockets.map((s) => s.backlog))], { env, stdio: ['ignore', 'pipe', 'pipe', ...sockets.map((s) => s.fd)] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      try {
        const results = JSON.parse(out) as unknown;
        if (Array.isArray(results) && results.length === sockets.length && results.every((r) => r === null || typeof r === 'string')) return resolve(results as (string | null)[]);
      } catch {
        /* below */
      }
      reject(new Error(`the listen helper ended with ${signal ?? `exit code ${code}`}${err.trim() ? `: ${err.trim().split('\n')[0]}` : ''}`));
    });
  });
}

/** What every worker is forked with: the fds passed after its IPC channel and the environment that names them. */
export interface WorkerListeners {
  readonly stdio: readonly number[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The fds each fork gets (stdio [0, 1, 2, 'ipc', ...stdio], so the i-th is the worker's fd 4 + i):
 * systemd's activated sockets first (TSPUMA_LISTEN_FDS, systemd.ts), then the kept ones, whose
 * binds go in TSPUMA_BINDS as JSON, each with the worker's fd of its socket.
 */
export function workerListeners(binds: readonly BindSpec[], kept: readonly KeptBind[]): WorkerListeners {
  const systemd = workerListenFds(binds);
  const stdio = [...(systemd?.stdio ?? [])];
  const env: Record<string, string> = {};
  if (systemd) env[WORKER_LISTEN_FDS_ENV] = systemd.env;
  // Set even when empty (systemd's sockets only): a TSPUMA_BINDS in the primary's own environment never reaches a worker.
  const first = LISTEN_FDS_START + 1 + stdio.length;
  env[WORKER_BINDS_ENV] = JSON.stringify(kept.map((k, i) => ({ ...k.spec, fd: first + i })));
  stdio.push(...kept.map((k) => k.fd));
  return { stdio, env };
}

/** In a worker: the primary's kept binds with this process's fds, taken out of the environment (the app never sees them); null when none came. */
export function takeWorkerBinds(env: NodeJS.ProcessEnv): FdBindSpec[] | null {
  const text = env[WORKER_BINDS_ENV];
  delete env[WORKER_BINDS_ENV];
  if (text === undefined) return null;
  return (JSON.parse(text) as FdBindSpec[]).map((b) => Object.freeze({ ...b, kept: true as const }));
}

/** What names one socket: its path, or its host and port as written (port 0 included). */
function bindKey(spec: BindSpec): string {
  return spec.scheme === 'unix' ? `unix://${spec.path}` : `${spec.host}:${spec.port}`;
}

/**
 * A worker's options with the primary's binds: systemd's sockets as this worker found them, then
 * the kept ones, in the primary's order. A worker reads the config again at each fork, but the
 * binds are the primary's for its whole life (as with Puma's phased restart): `added` and
 * `removed` name the config's binds that changed since the primary started, for a warning.
 */
export function withWorkerBinds(options: Options, kept: readonly FdBindSpec[]): { options: Options; added: string[]; removed: string[] } {
  const own = options.bind.filter((b) => !isFdBind(b));
  const keys = new Set(kept.map(bindKey));
  const ownKeys = new Set(own.map(bindKey));
  const added = own.filter((b) => !keys.has(bindKey(b))).map((b) => b.uri);
  const removed = kept.filter((b) => !ownKeys.has(bindKey(b))).map((b) => b.uri);
  const bind = Object.freeze([...options.bind.filter(isFdBind), ...kept]);
  return { options: Object.freeze({ ...options, bind }), added, removed };
}
