// In-process: the redaction rules (by name segment and by value shape), the frame reader on
// protocol frames (as a remote reader gets them), the renderer's signal-first text with the
// caret, and the folding of a real stack overflow's frames.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { DumpBuilder, thrownWithoutAppFrame } from '../../diagnostics/dumps.js';
import { finishFrames, foldRepeats } from '../../diagnostics/finish.js';
import { FrameReader, functionFromText, type CallFrame, type PropertyDescriptor, type RemoteObject } from '../../diagnostics/frames.js';
import type { Dump, DumpFrame } from '../../diagnostics/model.js';
import { Redactor, forgetSecrets, rememberSecret, scrubRemembered } from '../../diagnostics/redact.js';
import { AWAITING, AWAITING_SNAPSHOT, renderText } from '../../diagnostics/render.js';
import type { RackEnv } from '../../server/app-types.js';
import { DUMP_ENV_KEY } from '../../server/shared-names.js';
import { defaultErrorResponse } from '../../server/lowlevel.js';
import { readLocals } from '../helpers/frame-locals.js';
import { tempDir } from '../helpers/temp.js';

const SECRETS = ['PGPASS-7781', 'SVCPASS-8812', 'FORMPASS-9923', 'JSONPASS-1134', 'JWTLIKE-2245', 'sk_live_FNKEY3356aa'];
const DSN = 'postgres://app:PGPASS-7781@db.internal/orders';
const UPSTREAM = 'https://svc:SVCPASS-8812@api.example.test/v1/charge';
const FORM = 'user=ann&password=FORMPASS-9923&remember=1';
const JSON_BODY = '{"user":"ann","password":"JSONPASS-1134","note":"Bearer JWTLIKE-2245.abc"}';
const SIGN_SOURCE = "(payload) => { const apiKey = 'sk_live_FNKEY3356aa'; return payload + apiKey; }";

describe('names: whole words and camelCase/snake_case segments', () => {
  const r = new Redactor();
  it('redacts password, accessToken, api_key and their kin, and leaves tokens, tokenizer, secretary', () => {
    for (const name of ['password', 'accessToken', 'api_key', 'apiKey', 'x-api-key', 'DB_PASSWORD', 'client_secret', 'privateKey', 'credentials', 'sessionToken', 'password2']) expect(r.isSecretName(name), name).toBe(true);
    for (const name of ['tokens', 'tokenizer', 'secretary', 'keyboard', 'author', 'userId', 'passThrough']) expect(r.isSecretName(name), name).toBe(false);
  });

  it('redacts the everyday names of passwords and keys (PGPASSWORD, MYSQL_PWD, REDIS_PASS, pgPass, SESSION_KEY, signingKey, keyHex) and leaves what only measures one (authTagLength, tokenType)', () => {
    const r = new Redactor();
    for (const name of ['PGPASSWORD', 'MYSQL_PWD', 'REDIS_PASS', 'pgPass', 'dbPass', 'creds.pass', 'SESSION_KEY', 'ENCRYPTION_KEY', 'signingKey', 'hmacKey', 'masterKey', 'privKey', 'keyHex', 'passcode', 'sessionId', 'otp', 'sid']) expect(r.isSecretName(name), name).toBe(true);
    for (const name of ['authTagLength', 'tokenType', 'passwordMinLength', 'cookieName', 'key', 'keys', 'session', 'code', 'passport', 'bypass', 'compass', 'sidebar', 'monkey']) expect(r.isSecretName(name), name).toBe(false);
  });

  it('applies the configured pattern to segments too, so "ssn" catches userSsn and not lessons', () => {
    const extra = new Redactor('ssn');
    expect(extra.isSecretName('userSsn')).toBe(true);
    expect(extra.isSecretName('lessons')).toBe(false);
    expect(extra.query('/a?user_ssn=1&tokens=4')).toBe('/a?user_ssn=[redacted]&tokens=4');
  });
});

describe('values: secrets wherever they stand in a string', () => {
  const r = new Redactor();
  // Unit files share their modules (vitest isolate: false): values another file redacted are not remembered here.
  beforeEach(() => forgetSecrets());
  it('replaces URL userinfo passwords, form and JSON secret values, and lists each', () => {
    const applied: string[] = [];
    expect(r.query(DSN, applied, 'local dsn')).toBe('postgres://app:[redacted]@db.internal/orders');
    expect(r.query(`calling ${UPSTREAM} now`)).toBe('calling https://svc:[redacted]@api.example.test/v1/charge now');
    expect(r.query(FORM)).toBe('user=ann&password=[redacted]&remember=1');
    expect(r.query(JSON_BODY)).toBe('{"user":"ann","password":"[redacted]","note":"Bearer [redacted]"}');
    expect(applied).toEqual(['url password (local dsn)']);
  });

  it('does not remember an authorization scheme alone (a header "Bearer" with no token) as a secret value', () => {
    rememberSecret('Bearer');
    rememberSecret('Bearer tok-5e6f7a8b');
    expect(scrubRemembered('retry: Bearer tok-5e6f7a8b failed; send a Bearer token')).toBe('retry: [redacted] failed; send a Bearer token');
  });

  it('finds Bearer/Basic credentials, secret pairs, PEM private keys and key formats inside longer strings', () => {
    expect(r.query('retry with {"headers":{"x":"Basic dXNlcjpwYXNz"}}')).toBe('retry with {"headers":{"x":"Basic [redacted]"}}');
    expect(r.query('built /v1/pay?amount=3&token=tk-991 for ann')).toBe('built /v1/pay?amount=3&token=[redacted] for ann');
    expect(r.query("opts { password: 'hunter2', tokens: 3 }")).toBe("opts { password: '[redacted]', tokens: 3 }");
    expect(r.query('k=-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----!')).toBe('k=-----BEGIN EC PRIVATE KEY-----[redacted]-----END EC PRIVATE KEY-----!');
    expect(r.query('charging with sk_live_abcdef123 now')).toBe('charging with [redacted] now');
    expect(r.query('Server=db;Password=p4;User Id=app')).toBe('Server=db;Password=[redacted];User Id=app');
  });

  it('leaves prose and non-secret pairs alone', () => {
    for (const s of ['Basic authentication required', 'tokens: 3', 'http://localhost:8080/a?page=2', 'tokenizer=words&x=1']) expect(r.query(s)).toBe(s);
  });

  it('redacts a userinfo password cut short by a capped preview', () => {
    expect(r.query('postgres://app:PGPASS-77…')).toBe('postgres://app:[redacted]…');
  });
});

/** Protocol objects as a paused V8 gives them. */
const str = (value: string): RemoteObject => ({ type: 'string', value });
const num = (value: number): RemoteObject => ({ type: 'number', value, description: String(value) });
const prop = (name: string, value: RemoteObject): PropertyDescriptor => ({ name, value });

function leakyFrames(file: string): { frames: CallFrame[]; properties: Map<string, PropertyDescriptor[]> } {
  const properties = new Map<string, PropertyDescriptor[]>([
    ['local', [prop('tokens', num(3)), prop('tokenizer', str('words')), prop('dsn', str(DSN)), prop('upstream', str(UPSTREAM)), prop('form', str(FORM)), prop('body', str(JSON_BODY)), prop('sign', { type: 'function', className: 'Function', description: SIGN_SOURCE, objectId: 'fn' })]],
    ['module', [prop('helper', { type: 'function', className: 'Function', description: 'function helper(a, b) { return a }', objectId: 'fn2' }), prop('import_node_path', { type: 'object', className: 'Object', description: 'Object', objectId: 'ns', preview: { overflow: true, properties: [{ name: 'join', type: 'function', value: '' }] } }), prop('LIMIT', num(3))]],
    ['this', [prop('tokens', num(0)), prop('capacity', num(5)), prop('secret', str('shh-443')), prop('conn', str(DSN))]],
  ]);
  const frame: CallFrame = {
    functionName: 'take',
    url: pathToFileURL(file).href,
    location: { scriptId: '1', lineNumber: 2, columnNumber: 4 },
    scopeChain: [
      { type: 'local', object: { type: 'object', objectId: 'local' } },
      { type: 'closure', object: { type: 'object', objectId: 'module' }, startLocation: { scriptId: '1', lineNumber: 0, columnNumber: 0 } },
      { type: 'global', object: { type: 'object', objectId: 'global' } },
    ],
    this: { type: 'object', className: 'RateLimiter', description: 'RateLimiter', objectId: 'this' },
  };
  return { frames: [frame], properties };
}

function readLeaky() {
  const dir = tempDir('render');
  const file = join(dir, 'app.ts');
  writeFileSync(file, "class RateLimiter {\n  take() {\n    if (this.tokens === 0) throw new Error('no tokens: ' + this.conn);\n  }\n}\n");
  const { frames, properties } = leakyFrames(file);
  const redactor = new Redactor();
  // A remote reader: only prefetched ids answer (functions then show name and arity, no location).
  const read = new FrameReader(redactor).read(frames, { frames: 8, scripts: new Map([['1', { url: pathToFileURL(file).href }]]), properties: (id) => properties.get(id) ?? [] });
  return { read, redactor, file };
}

describe('the frame reader', () => {
  it('shows a function as name, arity and location, never its source text', () => {
    const fn: RemoteObject = { type: 'function', className: 'Function', description: SIGN_SOURCE, objectId: 'f1' };
    const locals = readLocals([prop('sign', fn)], () => ({ result: [prop('length', num(1)), prop('name', str('sign'))], internalProperties: [{ name: '[[FunctionLocation]]', value: { type: 'object', subtype: 'internal#location', value: { scriptId: '1', lineNumber: 9, columnNumber: 15 } } }] }));
    expect(locals.sign).toEqual({ summary: 'function sign/1 at /srv/app.ts:10' });
    expect(functionFromText('async function load(a, b = 2, ...rest) {')).toEqual({ kind: 'function', name: 'load', arity: 1 });
    expect(functionFromText('class RateLimiter { take() {} }')).toEqual({ kind: 'class', name: 'RateLimiter', arity: 0 });
  });

  it("shows a local V8 reports without a value (optimized out, not yet initialized) as <value unavailable>, an accessor or a closure's as nothing (review9.10)", () => {
    const reader = new FrameReader(new Redactor());
    const shown = reader.read(
      [{ functionName: 'f', url: 'file:///srv/app.ts', location: { scriptId: '1', lineNumber: 0, columnNumber: 0 }, scopeChain: [{ type: 'local', object: { type: 'object', objectId: 'l' } }, { type: 'closure', object: { type: 'object', objectId: 'c' } }], this: { type: 'undefined' } }],
      {
        frames: 1,
        scripts: new Map([['1', { url: 'file:///srv/app.ts' }]]),
        properties: (id) => (id === 'l' ? [prop('until', num(5)), { name: 'ms' }, { name: 'got', get: { type: 'function', objectId: 'g' } }] : [{ name: 'later' }]),
      },
    );
    expect(shown.frames[0]!.locals).toEqual({ until: 5, ms: { summary: '<value unavailable>' } });
  });

  it('redacts a string under a session name (session, sess, userSession: a logged-in user\'s credential), locals and object fields alike, and shows an object under it and sessionCount (N15)', () => {
    const sessionObject: RemoteObject = { type: 'object', className: 'Session', description: 'Session', objectId: 'obj', preview: { overflow: false, properties: [{ name: 'session', type: 'string', value: 'sess_Zx81kQ0pLm3nB7vC2dF5gH9j' }, { name: 'views', type: 'number', value: '3' }] } };
    const locals = readLocals([prop('session', str('sess_Zx81kQ0pLm3nB7vC2dF5gH9j')), prop('sess', str('s3cr3t-sess')), prop('userSession', str('us-77aa')), prop('sessionCount', num(4)), prop('store', sessionObject)]);
    expect({ session: locals.session, sess: locals.sess, userSession: locals.userSession, sessionCount: locals.sessionCount }).toEqual({ session: '[redacted]', sess: '[redacted]', userSession: '[redacted]', sessionCount: 4 });
    expect(JSON.stringify(locals.store)).not.toContain('sess_Zx81');
    expect(JSON.stringify(locals.store)).toContain('views: 3');
  });

  it("shows an array's elements only (an Arguments preview's callee is no element), and redacts the element after a header name, not after any string that mentions a secret word (review17.5)", () => {
    const body = '{"user":"ann","password":"[redacted]"}';
    const args: RemoteObject = { type: 'object', subtype: 'array', className: 'Arguments', description: 'Arguments(2)', objectId: 'args', preview: { overflow: false, properties: [{ name: '0', type: 'object', subtype: 'null', value: 'null' }, { name: '1', type: 'string', value: body }, { name: 'callee', type: 'function', value: '' }] } };
    const notes: RemoteObject = { type: 'object', subtype: 'array', className: 'Array', description: 'Array(3)', objectId: 'notes', preview: { overflow: false, properties: [{ name: '0', type: 'string', value: 'reset your password here' }, { name: '1', type: 'string', value: 'kept-note-2' }, { name: '2', type: 'number', value: '3' }] } };
    const raw: RemoteObject = { type: 'object', subtype: 'array', className: 'Array', description: 'Array(4)', objectId: 'raw', preview: { overflow: false, properties: [{ name: '0', type: 'string', value: 'Host' }, { name: '1', type: 'string', value: 'a' }, { name: '2', type: 'string', value: 'X-Api-Key' }, { name: '3', type: 'string', value: 'k-123456' }] } };
    const locals = readLocals([prop('args', args), prop('notes', notes), prop('raw', raw)]);
    expect(locals.args).toEqual({ summary: `Arguments(2) [null, ${JSON.stringify(body)}]` });
    expect(locals.notes).toEqual({ summary: 'Array(3) ["reset your password here", "kept-note-2", 3]' });
    expect(locals.raw).toEqual({ summary: 'Array(4) ["Host", "a", "X-Api-Key", "[redacted]"]' });
  });

  it('redacts the element after a label naming a secret that ends in a colon or an equals sign (["Password:", …], ["password=", …]), as before review17.5 (review18)', () => {
    const element = (name: string, value: string) => ({ name, type: 'string' as const, value });
    const form: RemoteObject = { type: 'object', subtype: 'array', className: 'Array', description: 'Array(4)', objectId: 'form', preview: { overflow: false, properties: [element('0', 'Password:'), element('1', 'hunter2'), element('2', 'password='), element('3', 'swordfish')] } };
    expect(readLocals([prop('form', form)]).form).toEqual({ summary: 'Array(4) ["Password:", "[redacted]", "password=", "[redacted]"]' });
  });

  it('reads the receiver fields with the locals rules, and leaves module functions and imports out of the locals', () => {
    const { read } = readLeaky();
    const f = read.frames[0]!;
    expect(f.function).toBe('RateLimiter.take');
    expect(f.receiverFields).toEqual({ tokens: 0, capacity: 5, secret: '[redacted]', conn: 'postgres://app:[redacted]@db.internal/orders' });
    expect(Object.keys(f.locals)).toEqual(['tokens', 'tokenizer', 'dsn', 'upstream', 'form', 'body', 'sign', 'LIMIT']);
    expect(f.locals).toMatchObject({ tokens: 3, tokenizer: 'words', LIMIT: 3, sign: { summary: 'function (anonymous)/1' } });
    expect(read.redactions).toEqual(expect.arrayContaining(['field secret (frame 0)', 'url password (local dsn, frame 0)', 'query password (local form, frame 0)', 'key password (local body, frame 0)']));
    for (const secret of [...SECRETS, 'shh-443']) expect(JSON.stringify(read.frames)).not.toContain(secret);
  });

  it('redacts every destination built from the frames: dump JSON, text, the development page and a handler', () => {
    const { read, redactor } = readLeaky();
    const err = new Error(`upstream ${UPSTREAM} refused; sent ${FORM}`);
    const dump = new DumpBuilder(redactor, 8).build(err, { phase: 'app', reason: 'exception', site: 'app.ts:3', frames: read.frames, redactions: read.redactions }, { phase: 'app' });
    const text = renderText(dump);
    const page = defaultErrorResponse(err, 500, false, { [DUMP_ENV_KEY]: { dump, text, path: null, repeat: false } } as unknown as RackEnv).body as string;
    const bare = defaultErrorResponse(err, 500, false).body as string; // without -d: the page's own pass
    for (const out of [JSON.stringify(dump), text, page, bare]) for (const secret of SECRETS) expect(out).not.toContain(secret);
    expect(text).toContain('this: tokens=0  capacity=5');
    expect(text).toContain('tokens=3  tokenizer="words"');
    expect(page).toContain('tspuma caught this error: upstream https://svc:[redacted]@api.example.test/v1/charge refused; sent user=ann&password=[redacted]&remember=1');
  });
});

const frame = (fn: string, file: string, line: number, column = 3): DumpFrame => ({ function: fn, file, line, column, receiver: 'undefined', locals: {} });

describe('signal first', () => {
  it('prints app frames and the culprit in full with a caret under the column; tspuma and node frames one line each', () => {
    const { read, redactor, file } = readLeaky();
    const frames: DumpFrame[] = [
      { ...read.frames[0]!, line: 3, column: 28, library: undefined } as DumpFrame,
      { ...frame('Server.run', 'server/server.ts', 338), locals: { req: { summary: 'IncomingMessage {_events: Object}' } } },
      { ...frame('Server.emit', 'node:events', 524), locals: { args: { summary: 'Array(2)' } } },
    ];
    const culprit = finishFrames(frames, redactor);
    expect(culprit).toBe(0);
    expect(frames.map((f) => f.origin)).toEqual(['app', 'tspuma', 'node']);
    const dump = { ...new DumpBuilder(redactor, 8).build(new Error('no tokens'), null, { phase: 'app' }), frames, culprit } as Dump;
    const lines = renderText(dump).split('\n');
    const at = lines.findIndex((l) => l.includes(`> #0 RateLimiter.take  ${file}:3:28`));
    expect(lines[at + 1]).toBe('        this: tokens=0  capacity=5  secret="[redacted]"  conn="postgres://app:[redacted]@db.internal/orders"');
    const src = lines.findIndex((l) => l.startsWith('        3 | '));
    expect(lines[src]).toBe("        3 |     if (this.tokens === 0) throw new Error('no tokens: ' + this.conn);");
    expect(lines[src + 1]).toBe(`          | ${' '.repeat(27)}^`);
    expect(lines[src + 1]!.indexOf('^') - lines[src]!.indexOf('if') + 4).toBe(27); // column 28 of the line
    expect(lines).toContain('    #1 Server.run  server/server.ts:338:3  (tspuma)');
    expect(lines).toContain('    #2 Server.emit  node:events:524:3  (node)');
    expect(renderText(dump)).not.toContain('IncomingMessage');
    expect(renderText(dump, false, { allFrames: true })).toContain('req=IncomingMessage {_events: Object}');
  });

  it("says whose frames were shown without values and where those values are: the .json beside the .txt, a named file, or no file written (N1)", () => {
    const frames: DumpFrame[] = [
      { ...frame('take', 'app.ts', 6), culprit: true },
      { ...frame('Layer.handleRequest', '/srv/node_modules/router/lib/layer.js', 169), locals: { req: { summary: 'IncomingMessage' } } },
      { ...frame('Server.emit', 'node:events', 524), locals: { args: { summary: 'Array(2)' } } },
    ];
    finishFrames(frames, new Redactor());
    const dump = { ...new DumpBuilder(new Redactor(), 8).build(new Error('x'), null, { phase: 'app' }), frames, culprit: 0 } as Dump;
    const hint = (opts?: Parameters<typeof renderText>[2]) => renderText(dump, false, opts).split('\n').filter((l) => l.includes('shown without their values'));
    expect(hint()).toEqual(['  (2 frame(s) of router, node shown without their values: the .json file beside this one has them; `tspuma dump --all-frames FILE.json` prints them)']);
    expect(hint({ valuesFile: '/srv/dumps/a.json' })).toEqual(['  (2 frame(s) of router, node shown without their values: /srv/dumps/a.json has them; `tspuma dump --all-frames /srv/dumps/a.json` prints them)']);
    expect(hint({ valuesFile: null })).toEqual(['  (2 frame(s) of router, node shown without their values: no dump file was written; with a dump folder (TSPUMA_DUMP_DIR or dumpDir) its .json file keeps them)']);
    expect(hint({ valuesElsewhere: '`tspuma inspect stack --json` prints them' })).toEqual(['  (2 frame(s) of router, node shown without their values: `tspuma inspect stack --json` prints them)']);
    expect(hint({ allFrames: true })).toEqual([]);
  });

  it("says under a captured dump's awaiting caller (from the stack text) that its values are not known, and not under a frame with values or an uncaptured dump's", () => {
    const frames = (): DumpFrame[] => [
      { ...frame('findUser', 'src/repo.ts', 6), locals: { id: 7 }, culprit: true },
      frame('async <anonymous>', 'src/express-app.ts', 7),
    ];
    const build = (captured: boolean) => {
      const f = frames();
      finishFrames(f, new Redactor());
      return renderText({ ...new DumpBuilder(new Redactor(), 8).build(new Error('user 7 not found'), null, { phase: 'app' }), frames: f, culprit: 0, captured } as Dump).split('\n');
    };
    const lines = build(true);
    const at = lines.findIndex((l) => l.includes('#1 async <anonymous>  src/express-app.ts:7:3'));
    expect(lines[at + 1]).toBe(AWAITING);
    expect(lines.filter((l) => l === AWAITING)).toHaveLength(1);
    expect(build(false)).not.toContain(AWAITING);
  });

  it("under a snapshot's awaiting caller says the probe stopped there and its line is from the async stack, not a throw (P7.1)", () => {
    const f: DumpFrame[] = [{ ...frame('quote', 'src/service.ts', 6), locals: { id: 1 }, culprit: true }, frame('async <anonymous>', 'src/express-app.ts', 13)];
    finishFrames(f, new Redactor());
    const lines = renderText({ ...new DumpBuilder(new Redactor(), 8).build(new Error('snapshot'), null, { phase: 'app' }), kind: 'snapshot', frames: f, culprit: 0, captured: true } as Dump).split('\n');
    const at = lines.findIndex((l) => l.includes('#1 async <anonymous>  src/express-app.ts:13:3'));
    expect(lines[at + 1]).toBe(AWAITING_SNAPSHOT);
    expect(lines.join('\n')).not.toContain('throw');
  });

  it("folds a run of three or more frames outside the app (a framework's router, tspuma's and node's dispatch) into one line naming whose they are", () => {
    const frames: DumpFrame[] = [
      { ...frame('take', 'app.ts', 6), culprit: true },
      frame('(anonymous)', 'app.ts', 26),
      frame('Layer.handleRequest', '/srv/node_modules/router/lib/layer.js', 169),
      frame('next', '/srv/node_modules/router/lib/route.js', 163),
      frame('handle', '/srv/node_modules/express/lib/application.js', 177),
      frame('Server.run', 'server/server.ts', 366),
      frame('Server.emit', 'node:events', 524),
      frame('middle', 'app.ts', 40),
      frame('Server.emit', 'node:events', 524),
      frame('parserOnIncoming', 'node:_http_server', 1139),
    ];
    finishFrames(frames, new Redactor());
    const dump = { ...new DumpBuilder(new Redactor(), 16).build(new Error('x'), null, { phase: 'app' }), frames, culprit: 0 } as Dump;
    const lines = renderText(dump).split('\n');
    expect(lines).toContain('    #2-#6 5 frames in router, express, tspuma, node: Layer.handleRequest  /srv/node_modules/router/lib/layer.js:169:3 and below');
    // A run of two stays two lines; app frames are never folded.
    expect(lines).toContain('    #7 middle  app.ts:40:3');
    expect(lines).toContain('    #8 Server.emit  node:events:524:3  (node)');
    expect(lines).toContain('    #9 parserOnIncoming  node:_http_server:1139:3  (node)');
    expect(lines.filter((l) => l.includes('Layer.handleRequest') || l.includes('application.js'))).toHaveLength(1);
    expect(renderText(dump, false, { allFrames: true })).toContain('    #4 handle  /srv/node_modules/express/lib/application.js:177:3');
  });

  it("shows tspuma's frames in full when the culprit is tspuma's own code (a bad option, a listen error)", () => {
    const frames: DumpFrame[] = [
      { ...frame('parseBacklog', 'server/binder-uri.ts', 51), locals: { raw: 'abc' } },
      { ...frame('parseBind', 'server/binder-uri.ts', 96), locals: { scheme: 'tcp' } },
      { ...frame('applyLayer', 'server/options.ts', 459), locals: { name: 'bind' } },
      { ...frame('main', 'server/cli.ts', 80), locals: { appArg: 'app.ts' } },
      frame('run', 'node:internal/modules/run_main', 1),
    ];
    const culprit = finishFrames(frames, new Redactor());
    expect(culprit).toBe(0);
    const dump = { ...new DumpBuilder(new Redactor(), 16).build(new Error('x'), null, { phase: 'config' }), frames, culprit } as Dump;
    const lines = renderText(dump).split('\n');
    expect(lines).toContain('    #2 applyLayer  server/options.ts:459:3');
    expect(lines).toContain('        name="bind"');
    expect(lines).toContain('        appArg="app.ts"');
    expect(lines).toContain('    #4 run  node:internal/modules/run_main:1:3  (node)');
  });
});

describe('stack overflow', () => {
  function walk(depth: number): number {
    return walk(depth + 1) + 1;
  }

  it('folds a real overflow to the recursive function with its count, and says why it has no values', () => {
    let err: unknown;
    try {
      walk(0);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe('Maximum call stack size exceeded');
    const kept = Error.stackTraceLimit;
    const dump = new DumpBuilder(new Redactor(), 32).build(err, null, { phase: 'app' });
    const walks = dump.frames.filter((f) => f.function === 'walk');
    expect(walks.length).toBeLessThanOrEqual(2); // the throwing column, then the folded calls
    expect(walks.reduce((n, f) => n + (f.repeat ?? 1), 0)).toBe(kept);
    const text = renderText(dump);
    expect(text).toMatch(new RegExp(`#\\d walk  test/unit/dump-render\\.test\\.ts:\\d+:\\d+  ×${walks.find((f) => f.repeat)!.repeat}`));
    expect(text).toContain(`stack overflow: walk calls itself (×${walks.find((f) => f.repeat)!.repeat})`);
    expect(text).toContain(`(${kept} here)`);
    expect(text).toContain('V8 does not pause on a stack overflow');
  });

  it('folds mutual recursion as a block', () => {
    const a = frame('even', 'app.ts', 2);
    const b = frame('odd', 'app.ts', 5);
    const folded = foldRepeats([frame('top', 'app.ts', 9), a, b, a, b, a, b, frame('main', 'app.ts', 12)]);
    expect(folded.map((f) => [f.function, f.repeat, f.cycle])).toEqual([
      ['top', undefined, undefined],
      ['even', 3, 2],
      ['odd', undefined, undefined],
      ['main', undefined, undefined],
    ]);
  });
});

describe("the note of an error thrown in node's code or a package with no app frame on the stack", () => {
  // Stack texts of an app in the working folder (positions are shown relative to it).
  const made = (stack: string) => Object.assign(new Error('write after end'), { stack: stack.replaceAll('/srv/', `${process.cwd()}/`) });

  it('says the app awaited it when its app frame is an await (Hono parsing a body)', () => {
    const err = made('SyntaxError: bad\n    at JSON.parse (<anonymous>)\n    at HonoRequest.json (/srv/node_modules/hono/dist/request.js:12:20)\n    at async handler (/srv/app.ts:15:17)');
    expect(thrownWithoutAppFrame(err, 32)).toMatch(/^thrown inside the package hono \(HonoRequest\.json at node_modules\/hono\/dist\/request\.js:12:20\) with no app frame on the stack \(the app awaited it at app\.ts:15\)/);
  });

  it("says the app's call made it, thrown after that call returned, when the app frame is a plain call: a second res.end(chunk), whose error node emits on a later tick (review20.6)", () => {
    const err = made('Error: write after end\n    at TspumaResponse.end (node:_http_outgoing:1047:15)\n    at handler (/srv/app.ts:32:9)\n    at Object.invoke (/srv/node_modules/tspuma/server/adapters.ts:224:15)');
    expect(thrownWithoutAppFrame(err, 32)).toBe(
      "thrown inside node's code (TspumaResponse.end at node:_http_outgoing:1047:15) with no app frame on the stack (the app's call at app.ts:32 made it, and it was thrown after that call returned: an 'error' event emitted on a later tick, or a callback), so no values were captured: the frames are from its stack",
    );
  });
});
