// What a probe is (a logpoint, a snapshot, a hit counter, or replay's one-time breakpoint), as the
// CLI, the control app, the primary and the workers agree on it; and the checks every layer
// shares: FILE:LINE, templates, read-only expressions, durations. Imports nothing heavy: the
// primary and the CLI load it, a worker only once a probe is set.
import { fileURLToPath } from 'node:url';
import { TspumaError } from './errors.js';

export const PROBE_KINDS = ['log', 'snapshot', 'count', 'break'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/** What surrounded a probe's line when it was set (server/probe-anchor.ts finds the line again by it). */
export interface LineContext {
  /** Headers (trimmed) of the enclosing blocks, innermost first, at most three. */
  blocks: string[];
  /** The nearest non-blank lines above and below (trimmed), or null at an end of the file. */
  before: string | null;
  after: string | null;
}

/** A probe as the primary hands it to every worker. */
export interface ProbeSpec {
  id: number;
  kind: ProbeKind;
  /** Absolute path of the original (.ts) file. */
  file: string;
  /** 1-based line in that file. */
  line: number;
  /** 1-based column on that line (FILE:LINE:COLUMN), or null: the line (see inspector/probe-locations.ts). */
  column: number | null;
  /** The line's text when the probe was set: a worker running another version of the file re-finds it there. */
  lineText: string | null;
  /** What surrounded the line then (its blocks' headers, its neighbours): which of several lines reading the same it is (probe-anchor.ts). */
  context?: LineContext | null;
  /** log: the line written per hit, with {expression} holes. */
  template: string | null;
  /** Only hits where this is truthy count (V8 evaluates it: a false one does not pause). */
  when: string | null;
  /** Hits after which the probe is removed (counted across workers; each worker stops at it too). */
  hits: number | null;
  /** log and snapshot: most hits per second per worker that pause it. */
  rate: number;
  /** Epoch ms after which the probe is gone. */
  expiresAt: number;
  /** break: only the request with this id stops (replay sends it as X-Request-Id). */
  requestId: string | null;
  /** break: the workers a debugger client is attached to; a hit elsewhere takes a snapshot instead. */
  attached: number[];
}

/**
 * What a client asks for (the CLI's flags, the JSON body of POST /probes): a spec's fields, each
 * optional (the registry fills defaults), with FILE:LINE as given and the lifetime in seconds.
 */
export type ProbeRequest = Pick<ProbeSpec, 'kind'> & { [K in 'template' | 'when' | 'hits' | 'rate' | 'requestId']?: ProbeSpec[K] | null } & {
  /** FILE:LINE, FILE absolute or relative to `cwd`. */
  location: string;
  cwd?: string;
  /** Seconds. */
  for?: number | null;
  attached?: number[];
  /** Who asked (the CLI sends user@host); the control app adds where from. */
  by?: string | null;
};

/** Bounds the API enforces on every probe. */
export const PROBE_BOUNDS = { maxHits: 1_000_000, maxSeconds: 86_400, maxLogRate: 10_000, maxSnapshotRate: 100, maxExpression: 500, maxTemplate: 2000 } as const;

/** The global (not enumerable) the V8 condition of every probe calls (inspector/probes.ts installs it). */
export const PROBE_GATE_KEY = '__tspumaProbe';

const invalid = (what: string, value: unknown, reason: string, source: string) =>
  new TspumaError('TSPUMA_ERR_PROBE_INVALID', { what, value: typeof value === 'string' ? value : JSON.stringify(value), reason, source });

/**
 * "src/app.ts:12" -> file and line; also FILE:LINE:COLUMN and file:// URLs, as dumps and stack
 * traces print them (the column picks the place on the line: a one-line route's handler). A
 * Windows drive letter or a colon in the path stays in the file.
 */
export function parseLocation(text: string, source: string): { file: string; line: number; column: number | null } {
  const m = /^(.+?):(\d+)(?::(\d+))?$/.exec(text.trim());
  if (!m || Number(m[2]) < 1) throw invalid('location', text, 'expected FILE:LINE, LINE counting from 1 (src/orders.ts:42; FILE:LINE:COLUMN and file:// URLs are taken too)', source);
  let file = m[1]!;
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch (err) {
      throw invalid('location', text, `its file:// URL is not a local file (${(err as Error).message})`, source);
    }
  }
  return { file, line: Number(m[2]), column: m[3] !== undefined && Number(m[3]) >= 1 ? Number(m[3]) : null };
}

/** "30s", "15m", "2h", "90" (seconds) -> seconds. */
export function parseDuration(text: string, source: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const n = m ? Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']) : NaN;
  if (!(n > 0) || n > PROBE_BOUNDS.maxSeconds) throw invalid('duration', text, 'expected a duration above 0 and at most a day: 30s, 15m, 2h or seconds', source);
  return n;
}

/** A template's literal text and {expression} holes, in order; `{{` and `}}` are literal braces. */
export type TemplatePart = { text: string } | { expr: string };

export function parseTemplate(template: string, source = 'the template'): TemplatePart[] {
  if (template.length > PROBE_BOUNDS.maxTemplate) throw invalid('template', `${template.slice(0, 60)}…`, `longer than ${PROBE_BOUNDS.maxTemplate} characters`, source);
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') throw invalid('template', template, `a } at column ${i + 1} closes nothing (write }} for a brace)`, source);
    if (c !== '{') {
      text += c;
      continue;
    }
    // An expression runs to its matching }, braces inside strings and object literals included.
    let depth = 1;
    let j = i + 1;
    let quote: string | null = null;
    for (; j < template.length && depth > 0; j++) {
      const d = template[j]!;
      if (quote) {
        if (d === '\\') j++;
        else if (d === quote) quote = null;
      } else if (d === '"' || d === "'" || d === '`') quote = d;
      else if (d === '{') depth++;
      else if (d === '}') depth--;
    }
    if (depth > 0) throw invalid('template', template, `the { at column ${i + 1} is not closed (write {{ for a brace)`, source);
    const expr = template.slice(i + 1, j - 1).trim();
    if (expr === '') throw invalid('template', template, `the {} at column ${i + 1} holds no expression`, source);
    checkTemplateExpression(expr, source);
    if (text) parts.push({ text });
    text = '';
    parts.push({ expr });
    i = j - 1;
  }
  if (text) parts.push({ text });
  return parts;
}

/** The expression with its string literals blanked, so operators inside them are not seen. */
function code(expr: string): string {
  return expr.replace(/(["'`])(?:\\.|(?!\1)[^\\])*\1/g, (s) => `"${' '.repeat(Math.max(0, s.length - 2))}"`);
}

/**
 * An expression with the bindings a compiler renamed written as the compiled code names them
 * (`discounts` -> `discounts2`: esbuild renames a parameter that shadows a module constant), so it
 * reads what the source's name means at the line. Property names and strings stay as they are.
 */
export function renameIdentifiers(expr: string, renames: ReadonlyMap<string, string>): string {
  if (renames.size === 0) return expr;
  const c = code(expr);
  let out = '';
  let last = 0;
  for (const m of c.matchAll(/(?<![\w$.])[A-Za-z_$][\w$]*(?![\w$])/g)) {
    const to = renames.get(m[0]);
    // After `?.` a name is a property too.
    if (to === undefined || /\?\.\s*$/.test(c.slice(0, m.index))) continue;
    out += expr.slice(last, m.index) + to;
    last = m.index! + m[0].length;
  }
  return out + expr.slice(last);
}

/**
 * Refuses what plainly writes: assignments (= but not ==, ===, !=, <=, >=, =>), ++, --, delete,
 * await, yield. V8's side-effect check then catches calls that write, in the worker (see
 * inspector/probes.ts): together, a probe can only read.
 */
export function checkReadOnly(expr: string, what: string, source: string): void {
  if (expr.length > PROBE_BOUNDS.maxExpression) throw invalid(what, `${expr.slice(0, 60)}…`, `longer than ${PROBE_BOUNDS.maxExpression} characters`, source);
  const c = code(expr);
  const m = /(?<![=!<>])=(?![=>])|\+\+|--|\b(?:delete|await|yield|import)\b|[+\-*/%&|^]=|<<=|>>>?=|\*\*=|\?\?=|&&=|\|\|=/.exec(c);
  if (m) throw invalid(what, expr, `\`${m[0]}\` at column ${m.index + 1} would change the program; a probe may only read`, source);
  try {
    // Syntax only: the body is never called.
    new Function(`return (${expr}\n);`);
  } catch (err) {
    throw invalid(what, expr, `it is not a JavaScript expression (${(err as Error).message})`, source);
  }
}

/**
 * What a `--when` condition may call. V8 evaluates a breakpoint's condition without its
 * side-effect check, so a condition is held to calls that only read: these methods and global
 * functions by name (a user method of the same name is caught, on the path it takes, by the
 * checked evaluation each worker does before it lets V8 evaluate the condition: inspector/probes.ts).
 */
export const CONDITION_CALLS: ReadonlySet<string> = new Set([
  'has', 'get', 'includes', 'startsWith', 'endsWith', 'indexOf', 'lastIndexOf', 'at', 'charAt', 'charCodeAt', 'codePointAt',
  'some', 'every', 'find', 'findIndex', 'findLast', 'findLastIndex', 'filter', 'map', 'slice', 'substring', 'toLowerCase',
  'toUpperCase', 'trim', 'trimStart', 'trimEnd', 'padStart', 'padEnd', 'split', 'join', 'concat', 'keys', 'values', 'entries',
  'toString', 'toFixed', 'valueOf', 'isArray', 'isInteger', 'isFinite', 'isNaN', 'isSafeInteger', 'Number', 'String', 'Boolean',
  'parseInt', 'parseFloat', 'abs', 'min', 'max', 'round', 'floor', 'ceil', 'localeCompare', 'hasOwnProperty', 'hasOwn', 'getTime',
  // A request's accessors (Hono's c.req, Express's req): see REQUEST_MEMBERS.
  'param', 'query', 'queries', 'header',
]);

/**
 * Members of Hono's request (`c.req`) and Express's (`req`) that only read the request. Hono's
 * param()/query()/header() and url/path, and the lazy request tspuma hands a fetch app, cache what
 * they read on first use, as Express's getters (ip, hostname) compute through the app's settings:
 * V8's side-effect check refuses those as writes. A chain of these through `req` or `request`
 * (`c.req.param("id")`, `req.get("user-agent")`, `req.ip`) is read without that check (see
 * memberChains); body readers (json(), text(), formData()) are not among them.
 */
const REQUEST_MEMBERS: ReadonlySet<string> = new Set([
  'req', 'request', 'raw', 'param', 'params', 'query', 'queries', 'header', 'headers', 'get', 'has', 'url', 'path', 'method',
  'ip', 'ips', 'hostname', 'host', 'protocol', 'secure', 'subdomains', 'xhr', 'originalUrl', 'baseUrl', 'routePath', 'cookies', 'signedCookies',
]);
/** What a chain may call on a URL's searchParams (urlRoot): reads. */
const SEARCH_PARAMS_READS: ReadonlySet<string> = new Set(['get', 'getAll', 'has', 'size', 'toString']);
/** A member chain: a name, then `.name`, `?.name` or a call with literal arguments (strings blanked by code()). */
const CHAIN = /(?<![\w$.])[A-Za-z_$][\w$]*(?:\s*\??\.\s*[A-Za-z_$][\w$]*|\s*(?:\?\.\s*)?\((?:\s*(?:"\s*"|\d+(?:\.\d+)?)\s*(?:,\s*(?:"\s*"|\d+(?:\.\d+)?)\s*)*)?\))*/g;

/**
 * The member chains of an expression, for reading one that V8's side-effect check refused: each
 * chain that reads a request through REQUEST_MEMBERS (`requestRead`), the others to be checked one
 * by one. Null when the expression has what cannot be split so (a computed member `a[b]`, a
 * template literal, `new`, a call of anything but a request read with other than literal arguments).
 */
export function memberChains(expr: string): { text: string; requestRead: boolean }[] | null {
  const c = code(expr);
  if (expr.includes('`') || /\[|\bnew\b/.test(c)) return null;
  const out: { text: string; requestRead: boolean }[] = [];
  for (const m of c.matchAll(CHAIN)) {
    const names = m[0].match(/[A-Za-z_$][\w$]*/g)!;
    const rest = names.slice(1);
    const requestRead =
      // Under any name (`_req`, `r`): the object's class decides (requestRoot), not its name.
      (rest.length > 0 && rest.every((n) => REQUEST_MEMBERS.has(n))) ||
      // A fetch handler's query: `url.searchParams.get("q")` (URL makes its searchParams on first use).
      (rest[0] === 'searchParams' && rest.slice(1).every((n) => SEARCH_PARAMS_READS.has(n)));
    // A call the chain does not hold (arguments that are not literals): only a request read's.
    const calledAfter = /^\s*(?:\?\.\s*)?\(/.test(c.slice(m.index! + m[0].length));
    const calls = /\(/.test(m[0]);
    if ((calledAfter || calls) && !requestRead) return null;
    out.push({ text: expr.slice(m.index!, m.index! + m[0].length), requestRead });
  }
  return out;
}
/**
 * What a request-read chain reads through: its text up to its last `req` or `request` name
 * (`c.req.param("id")` -> `c.req`, `request.query("…")` -> `request`), else its first name
 * (`_req.get("x")` -> `_req`); null for a chain of one name. The probe engine checks that this is
 * an HTTP request before it reads the chain unchecked: a name says nothing of the object (a SQL
 * client's `request.query(sql)` writes; a `cache.get(k)` is a Map's).
 */
export function requestRoot(chain: string): string | null {
  let end = -1;
  const names = [...code(chain).matchAll(/[A-Za-z_$][\w$]*/g)];
  for (const m of names) if (m[0] === 'req' || m[0] === 'request') end = m.index! + m[0].length;
  if (end < 0 && names.length > 1) end = names[0]!.index! + names[0]![0].length;
  return end < 0 ? null : chain.slice(0, end);
}

/** A searchParams chain's object (`url.searchParams.get("q")` -> `url`), checked to be a URL; null without one. */
export function urlRoot(chain: string): string | null {
  const m = /\s*\??\.\s*searchParams(?![\w$])/.exec(code(chain));
  return m ? chain.slice(0, m.index) : null;
}

/** Words a `(` may follow without being a call. */
const NOT_CALLEES = new Set(['typeof', 'void', 'in', 'instanceof', 'of', 'return', 'case', 'do', 'else']);

/**
 * What a template expression may call besides CONDITION_CALLS: readers V8's side-effect check lets
 * through, which a template (checked at every hit, with a time limit) may run and a condition
 * (evaluated unchecked, with none) may not. A regular expression's test() and match() among them.
 */
export const TEMPLATE_CALLS: ReadonlySet<string> = new Set([...CONDITION_CALLS, 'stringify', 'toISOString', 'toJSON', 'toLocaleString', 'toPrecision', 'fromEntries', 'getOwnPropertyNames', 'test', 'match', 'replace', 'replaceAll', 'repeat', 'now']);

/** A request's accessors that take a field's name (`c.req.query("q")`, `req.header("x-id")`). */
const NAME_ACCESSORS = new Set(['param', 'query', 'queries', 'header']);

/**
 * The calls an expression may make, held to `allowed` by name: no `new`, no call of a computed
 * function, no template literal (its `${}` would hide a call), and a request accessor's literal
 * argument a field's name: `pool.query("DELETE FROM orders")` is a database client's, not a read of
 * the request's query, though the name is the same (T12.10).
 */
function checkCalls(expr: string, what: string, source: string, allowed: ReadonlySet<string>, why: string): void {
  if (expr.includes('`')) throw invalid(what, expr, `a ${what.replace(/ \(.*/, '')} may not use template literals (write the text in quotes)`, source);
  const c = code(expr);
  const created = /\bnew\b/.exec(c);
  if (created) throw invalid(what, expr, `\`new\` at column ${created.index + 1} runs a constructor; a probe may only read`, source);
  for (const m of c.matchAll(/([A-Za-z_$][\w$]*|\)|\])\s*(?:\?\.\s*)?\(/g)) {
    const callee = m[1]!;
    if (NOT_CALLEES.has(callee)) continue;
    if (allowed.has(callee)) {
      const arg = NAME_ACCESSORS.has(callee) ? /^\s*(["'])((?:\\.|(?!\1)[^\\])*)\1/.exec(expr.slice(m.index! + m[0].length)) : null;
      if (arg && /\s/.test(arg[2]!.trim())) throw invalid(what, expr, `it calls ${callee}() with "${arg[2]}" (column ${m.index! + 1}), which names no field of a request (a database client's ${callee}() would run it), so it may write; ${why}`, source);
      continue;
    }
    const reason = callee === ')' || callee === ']' ? 'calls a computed function' : `calls ${callee}(), which may write`;
    throw invalid(what, expr, `it ${reason} (column ${m.index! + 1}): ${why}`, source);
  }
}

/**
 * A `--when` condition: read-only as checkReadOnly says, and calling only CONDITION_CALLS (no
 * `new`, no call of a computed function, no template literal, whose `${}` would hide a call).
 */
export function checkCondition(expr: string, source: string): void {
  const what = 'condition (--when)';
  checkReadOnly(expr, what, source);
  const c = code(expr);
  // V8 runs a condition with no time limit (a template has one): a backtracking pattern
  // (/^(a+)+$/ on a request's path) would hold the worker for as long as it runs.
  const regex = /(?:^|[(,=:[!&|?{};+\-*%<>~^]|\breturn|\btypeof)\s*(\/)(?![/*])/.exec(c) ?? /(?<![\w$])test\s*\(/.exec(c);
  if (regex) throw invalid(what, expr, `it runs a regular expression (column ${(regex.index + regex[0].length - (regex[1] ? 1 : 5)) + 1}): V8 evaluates a condition with no time limit, and a pattern that backtracks would hold the worker for as long as it runs; test with includes(), startsWith() or endsWith(), or read the value in the template (a template has a time limit)`, source);
  checkCalls(expr, what, source, CONDITION_CALLS, `V8 evaluates a condition without its side-effect check, so a condition may call only methods that read (${[...CONDITION_CALLS].slice(0, 8).join(', ')}, …); read other values in the template, which is checked at every hit`);
}

/**
 * A template expression: read-only as checkReadOnly says, and calling only TEMPLATE_CALLS, as a
 * condition does: V8's side-effect check would refuse another call at the first hit and remove the
 * probe, long after the prompt (T12.10); refused here, before anything is set.
 */
export function checkTemplateExpression(expr: string, source: string): void {
  const what = 'template expression';
  checkReadOnly(expr, what, source);
  checkCalls(expr, what, source, TEMPLATE_CALLS, `a template may call only methods that read (${[...TEMPLATE_CALLS].slice(0, 8).join(', ')}, JSON.stringify, …: TEMPLATE_CALLS in server/probe-spec.ts), as a --when may; V8's side-effect check would refuse another at the first hit and remove the probe. Log the values the call would read instead`);
}

/**
 * The condition V8 evaluates at the line: the user's `when` first (false: no pause, nothing
 * counted), then the gate, which counts the hit and says whether this one may pause the thread
 * (rate limit, hits left, expiry, budget suspension). A `when` that throws counts as false in V8.
 */
export function v8Condition(spec: Pick<ProbeSpec, 'id' | 'when'>, check = false): string {
  const key = PROBE_GATE_KEY;
  // First, at every pass, the pass counter (true only to stop a probe that costs over the budget).
  // `check`: the place's first pass pauses, so its `when` is checked there (inspector/probes.ts).
  const gated = spec.when ? `(${spec.when}\n) && ${key}(${spec.id})` : `${key}(${spec.id}${check ? ', 1' : ''})`;
  return `${key}.n(${spec.id}) || (${gated})`;
}

/** "src/orders.ts:12" for messages: the path as given when relative, else relative to cwd when below it. */
export function locationText(file: string, line: number, column: number | null = null, cwd = process.cwd()): string {
  const rel = file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
  return `${rel}:${line}${column !== null ? `:${column}` : ''}`;
}

/** What a probe can be set in: a line of code the app can load (TypeScript or JavaScript). */
export const SCRIPT_FILE = /\.(?:[cm]?[jt]s|[jt]sx)$/i;

/** `a.b`, `req.get("authorization")`, `req.headers["x-api-key"]`: an operand of a comparison. */
const OPERAND = String.raw`[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*|\[\s*(?:"[^"]*"|'[^']*')\s*\]|\(\s*(?:"[^"]*"|'[^']*')\s*\))*`;
/** `OPERAND === "literal"` (group 1 the operand, 2 the quote, 3 the literal). */
const OPERAND_FIRST = new RegExp(String.raw`(${OPERAND})\s*[!=]==?\s*(["'\`])((?:\\.|(?!\2)[^\\])*)\2`, 'g');
/** `"literal" === OPERAND` (group 1 the quote, 2 the literal, 3 the operand). */
const LITERAL_FIRST = new RegExp(String.raw`(["'\`])((?:\\.|(?!\1)[^\\])*)\1\s*[!=]==?\s*(${OPERAND})`, 'g');
/** A template placeholder with no quoted literal in it: hidden from the value rules (shownProbeText). */
const PLACEHOLDER = /\{[^{}"'`]*\}/g;
/** Comparison operators, hidden while the value rules read the text (`apiKey === x` is not an assignment). */
const COMPARISON = /[!=]==?/g;

/** The name an operand reads: its last string key or argument (`"x-api-key"`), else its last property. */
function operandName(operand: string): string {
  const keys = [...operand.matchAll(/["']([^"']*)["']/g)];
  if (keys.length > 0) return keys[keys.length - 1]![1]!;
  return operand.split('.').pop()!.trim();
}

/**
 * A probe's text (its `--when`, its template, the line it is on) as its log lines, `probe list`
 * and the control app's answers show it: the value rules of dumps (URL passwords, key shapes,
 * credentials), plus a string compared with a secret-named value (`apiKey === "…"`,
 * `req.get("authorization") === "…"`). The workers get the text as written.
 */
export function shownProbeText(text: string, redactor: { query(text: string, applied?: string[], where?: string, opts?: { source?: boolean }): string; isSecretName(name: string): boolean }): string {
  const literal = (quote: string, value: string, name: string) => (value !== '[redacted]' && redactor.isSecretName(name) ? `${quote}[redacted]${quote}` : `${quote}${value}${quote}`);
  let s = text.replace(OPERAND_FIRST, (all, operand: string, quote: string, value: string) => all.slice(0, all.length - value.length - 2) + literal(quote, value, operandName(operand)));
  s = s.replace(LITERAL_FIRST, (all, quote: string, value: string, operand: string) => literal(quote, value, operandName(operand)) + all.slice(value.length + 2));
  const operators: string[] = [];
  s = s.replace(COMPARISON, (op) => `\u0000${operators.push(op) - 1}\u0000`);
  // A template's placeholder holds an expression (names), not a value: `auth={req.headers.authorization}`
  // must not read as a query string's secret value. One with a quoted literal stays in view of the rules.
  // The value rules read the text between placeholders, piece by piece (`auth=` before one is no value).
  let at = 0;
  let shown = '';
  for (const m of s.matchAll(PLACEHOLDER)) {
    shown += redactor.query(s.slice(at, m.index), undefined, undefined, { source: true }) + m[0];
    at = m.index + m[0].length;
  }
  s = shown + redactor.query(s.slice(at), undefined, undefined, { source: true });
  return s.replace(/\u0000(\d+)\u0000/g, (_all, i: string) => operators[Number(i)]!);
}
