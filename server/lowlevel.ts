// The error responses that end a request (app throw, parse error, 413, 408, 501, 503): the one
// the user's lowlevelErrorHandler builds (or tspuma's default), always with Connection: close.
// Two ways to answer: answerOnResponse (a request node:http parsed) and answerOnSocket (before
// node:http made a response, or after it gave the connection up).
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { LowlevelErrorHandler, RackEnv } from './app-types.js';
import { Redactor, oneLine } from '../diagnostics/redact.js';
import type { DiagnosticsHook, Reported } from './debug-hook.js';
import { DUMP_ENV_KEY } from './shared-names.js';
import { TspumaError, isTspumaError } from './errors.js';
import { shownRequestId } from './request-id.js';
import { bareObjectText, readText } from './error-stand-in.js';
import { closeAfterResponse, destroyResponse, dropAppWrites, restoreAppWrites } from './node-http.js';
import { normalize, writeResponse, type Normalized } from './response.js';
import type { AnswerCounts } from './answer-counts.js';

/** How long a lowlevelErrorHandler may take before the default response is used. */
export const HANDLER_TIMEOUT_MS = 5000;
/** Largest body taken from a handler's response on the raw-socket path (parse errors). */
const RAW_BODY_LIMIT = 64 * 1024;

export interface LowlevelContext {
  readonly handler: LowlevelErrorHandler | null;
  /** Error responses carry no details (an environment other than development or test: exposure.ts showsErrorDetails). */
  readonly hideDetails: boolean;
  readonly log: Logger;
  /** Debug mode's hook: a throwing lowlevelErrorHandler is dumped through it. */
  readonly diagnostics: DiagnosticsHook | null;
  /** ctl stats' count of error answers by status (absent: not counted). */
  readonly counts?: AnswerCounts;
}

/** The development page's rules when no dump (with the configured names) came with the error. */
const pageRedactor = new Redactor();

/**
 * tspuma's own error response (Puma's default): the message and stack in development and test, nothing elsewhere. The message and
 * stack are redacted like a dump (a message may quote a connection string or a request body):
 * with a dump, its message is the one shown, redacted with the configured names too.
 * `stackText`: the error's stack with compiled positions mapped to the source (pageStack).
 */
export function defaultErrorResponse(err: Error, status: number, hideDetails: boolean, env?: RackEnv, stackText?: string): Normalized {
  const headers = { 'content-type': 'text/plain; charset=utf-8' };
  // The request id, so a user can quote it and the operator find the log line and the dump.
  const id = env?.['tspuma.request_id'];
  const idLine = typeof id === 'string' ? `request id: ${id}\n` : '';
  if (hideDetails || status !== 500) {
    // tspuma's own refusal (400, 413, 503...) may quote the request (a target with a password in it).
    const text = isTspumaError(err) && !hideDetails ? pageRedactor.query(err.message) : (STATUS_CODES[status] ?? 'Error');
    return { status, headers, body: `${status} ${text}\n${idLine}` };
  }
  // Debug mode: the interpreter-level dump, redacted, follows (only in development and test).
  const reported = env?.[DUMP_ENV_KEY] as Partial<Reported> | undefined;
  // A repeat's dump is its site's first: this failure's own message is shown, redacted alike.
  const message = reported?.dump && !reported.repeat ? reported.dump.error.message : pageRedactor.query(String(err.message));
  // With a captured dump, the stack is the dump's frames, so the page and the dump show the same
  // position (the throw's column, not the `new Error`'s).
  const frames = reported?.dump?.captured && !reported.repeat ? reported.dump.frames : null;
  const stack = frames
    ? frames.map((f) => `    at ${f.function} (${f.file}:${f.line}:${f.column})`).join('\n')
    : typeof (stackText ?? err.stack) === 'string'
      ? pageRedactor.query((stackText ?? err.stack)!.split('\n').slice(1).join('\n'))
      : '';
  const dump = reported?.text;
  return { status, headers, body: `tspuma caught this error: ${oneLine(message)} (${err.name})\n${stack}\n${idLine}${dump ? `\n${dump}\n` : ''}` };
}

/**
 * The development page's stack text with each compiled frame told by its source's file, line and
 * name (tspuma's built chunks: `server/request-lifecycle.ts:324:18`, not `serving.chunk.js:3134`),
 * as a dump shows them; undefined where the page shows no stack text (details hidden, a status
 * other than 500, a captured dump's frames instead). Loaded at the first such page: decoding a
 * chunk's source map then costs tens of milliseconds once, in development only.
 */
async function pageStack(err: Error, status: number, hideDetails: boolean, env?: RackEnv): Promise<string | undefined> {
  if (hideDetails || status !== 500) return undefined;
  const reported = env?.[DUMP_ENV_KEY] as Partial<Reported> | undefined;
  if (reported?.dump?.captured && !reported.repeat) return undefined;
  try {
    const stack = err.stack;
    if (typeof stack !== 'string') return undefined;
    const { mappedStackText } = await import('../diagnostics/stack-text.js');
    return mappedStackText(stack);
  } catch {
    return undefined; // an app's Error.prepareStackTrace that throws: the page shows what it can
  }
}

function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  const bare = bareObjectText(err);
  const e = new Error(bare ? bare.message : `A non-Error value was thrown: ${readText(() => err, typeof err)}`);
  if (bare) e.name = bare.name;
  // The value had no stack: not this function's, which would show tspuma's frames as the app's.
  e.stack = `${e.name}: ${e.message}`;
  (e as { thrown?: unknown }).thrown = err;
  return e;
}

/** What the handler's result must be, as its refusal says. */
const EXPECTED_RESULT = 'it must return [status, headers, body], a Response or { status, headers, body }';

/**
 * The request a lowlevelErrorHandler was answering, for its failure's line: `GET /x (status 400,
 * request ID)`, or the connection's error when node:http could not parse a request.
 */
function answering(rack: RackEnv, status: number): { text: string; fields: Record<string, unknown> } {
  const method = typeof rack.REQUEST_METHOD === 'string' ? rack.REQUEST_METHOD : '';
  const url = typeof rack.REQUEST_URI === 'string' ? rack.REQUEST_URI : '';
  const id = rack['tspuma.request_id'];
  const what = method ? `${method} ${pageRedactor.query(url) || '/'}` : 'a request node:http could not parse';
  const text = `${oneLine(what)} (status ${status}${typeof id === 'string' ? `, request ${shownRequestId(id)}` : ''})`;
  return { text, fields: { ...(method ? { method, url: pageRedactor.query(url) } : {}), status, ...(typeof id === 'string' ? { requestId: id } : {}) } };
}

/** The error response the user's lowlevelErrorHandler builds; the default one if there is none, or on its throw, bad shape or timeout. */
async function errorResponse(ctx: LowlevelContext, errIn: unknown, env: RackEnv, status: number): Promise<Normalized> {
  ctx.counts?.answered(status);
  const err = asError(errIn);
  const page = async () => defaultErrorResponse(err, status, ctx.hideDetails, env, await pageStack(err, status, ctx.hideDetails, env));
  if (!ctx.handler) return page();
  let timer: NodeJS.Timeout | undefined;
  let result: unknown;
  const request = answering(env, status);
  const refused = (problem: string, expected: string, cause?: unknown) =>
    new TspumaError('TSPUMA_ERR_LOWLEVEL_HANDLER', { problem, request: request.text, expected, status }, cause === undefined ? undefined : { cause });
  try {
    result = await Promise.race([
      Promise.resolve().then(() => ctx.handler!(err, env, status)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(refused(`did not return within ${HANDLER_TIMEOUT_MS} ms`, '')), HANDLER_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
  } catch (handlerErr) {
    const coded = isTspumaError(handlerErr, 'TSPUMA_ERR_LOWLEVEL_HANDLER') ? handlerErr : refused(`threw ${(handlerErr as Error)?.name ?? 'a value'}: ${(handlerErr as Error)?.message ?? String(handlerErr)}`, '', handlerErr);
    ctx.log.error({ ...(coded !== handlerErr ? { err: handlerErr } : {}), code: coded.code, ...request.fields, original: pageRedactor.query(err.message) }, pageRedactor.query(coded.message));
    // A dump of the handler's own throw (its frames are the innermost cause's); the default answers.
    if (coded !== handlerErr) ctx.diagnostics?.report(coded, { phase: 'hook', context: { handler: 'lowlevelErrorHandler', status } });
    return page();
  } finally {
    clearTimeout(timer);
  }
  if (result === undefined || result === null) return page();
  try {
    return normalize(result, EXPECTED_RESULT);
  } catch (shapeErr) {
    // Not a throw of the handler: what it returned, and what it must return. No stack (normalize's is tspuma's).
    const got = isTspumaError(shapeErr, 'TSPUMA_ERR_APP_RESULT') ? String(shapeErr.params.got) : String((shapeErr as Error)?.message ?? shapeErr);
    const coded = refused(`returned ${got}`, `; ${EXPECTED_RESULT}`);
    ctx.log.error({ code: coded.code, ...request.fields, original: pageRedactor.query(err.message) }, pageRedactor.query(coded.message));
    return page();
  }
}

/**
 * Answers a request node:http parsed with the error response, replacing any headers the app had
 * set; a response whose head went out already is destroyed. `takeOver`: the server answers in
 * the app's place while the app may still run (timeouts, shutdown), so the app's writes are
 * dropped while the handler builds the answer and after it. Never throws.
 */
export async function answerOnResponse(ctx: LowlevelContext, res: ServerResponse, err: unknown, env: RackEnv, status: number, takeOver = false): Promise<void> {
  if (takeOver) dropAppWrites(res); // the app may keep writing while the handler runs
  const r = await errorResponse(ctx, err, env, status);
  if (takeOver) restoreAppWrites(res);
  await writeErrorResponse(ctx, res, r);
  if (takeOver) dropAppWrites(res);
}

async function writeErrorResponse(ctx: LowlevelContext, res: ServerResponse, r: Normalized): Promise<void> {
  if (res.headersSent || res.destroyed) {
    destroyResponse(res);
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  closeAfterResponse(res);
  try {
    await writeResponse(res, r, { connection: 'close' });
  } catch (writeErr) {
    ctx.log.error({ err: writeErr }, 'writing the error response failed; closing the connection');
    destroyResponse(res);
  }
}

async function collect(body: Normalized['body']): Promise<Buffer> {
  if (body === null || body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<string | Uint8Array>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    size += b.byteLength;
    if (size > RAW_BODY_LIMIT) throw new Error(`error body exceeds ${RAW_BODY_LIMIT} bytes`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Builds the error response and writes it on the raw socket, for requests node:http rejected before a ServerResponse existed. */
export async function answerOnSocket(ctx: LowlevelContext, socket: Socket, err: unknown, env: RackEnv, status: number): Promise<void> {
  let r = await errorResponse(ctx, err, env, status);
  let body: Buffer;
  try {
    body = await collect(r.body);
  } catch (collectErr) {
    ctx.log.error({ err: collectErr }, 'lowlevelErrorHandler body unusable on a raw connection; default used');
    r = defaultErrorResponse(asError(err), status, ctx.hideDetails);
    body = Buffer.from(r.body as string);
  }
  if (socket.destroyed || !socket.writable) return;
  let head = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of Object.entries(r.headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || !TOKEN.test(name) || lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    const values = Array.isArray(value) ? value : String(value).split('\n');
    for (const v of values) if (!/[\r\n]/.test(String(v))) head += `${name}: ${v}\r\n`;
  }
  head += `content-length: ${body.byteLength}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
