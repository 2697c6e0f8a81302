// Where a probe's gate can be compiled into the probed script with V8's live edit
// (`Debugger.setScriptSource`) instead of a conditional breakpoint, whose condition V8 evaluates
// at every run of the line (tens of microseconds: bench/README.md "Probes"). The guard
// `;if(typeof __tspumaProbe!=="undefined"&&__tspumaProbe.e(N))debugger;` goes at the end of the
// line before the probed statement, right after the statement (or block's `{`) before it, so no
// line moves and no column of existing code moves (stack traces, source maps, dumps and other
// probes stay right). That is done only where a parser shows it is sound: the probed statement
// starts exactly at the place, is in a statement list (a block or the script's top level), and
// what separates it from the code before it is white space and one line break (no comment, nothing
// else on either line in between). Anywhere else the probe keeps its breakpoint.
import { parse, type Node } from 'acorn';
import { PROBE_GATE_KEY } from '../server/probe-spec.js';
import { FUNCTIONS, scopeAt, type Scope } from './probe-when-compile.js';

/** A guard's place in a script's original source, and where its `debugger` statement is once inserted. */
export interface GuardPlace {
  /** Offset in the original source where the guard text goes. */
  offset: number;
  /** 0-based line and column of the plain guard's `debugger` in the edited source (a pause there is the probe's). */
  line: number;
  column: number;
  /** 0-based column where the guard's text begins on its line. */
  base: number;
  /** The names in scope where the guard runs (a `--when` is compiled against them: probe-when-compile.ts). */
  scope: Scope;
}

/**
 * The guard for site number `n` (called with no allocation; a missing gate, after the engine
 * closed, is false). With `checks` (the compiled `--when` of each probe there, each passed to the
 * gate's `w`), the gate's `f` first says whether the site is still armed, then the checks run.
 */
export function guardText(n: number, checks: string | null = null): string {
  const G = PROBE_GATE_KEY;
  return checks === null ? `;if(typeof ${G}!=="undefined"&&${G}.e(${n}))debugger;` : `;if(typeof ${G}!=="undefined"&&${G}.f(${n})&&(${checks}))debugger;`;
}

/** The 0-based column of a guard's `debugger` in the edited line. */
export function debuggerColumn(place: GuardPlace, text: string): number {
  return place.base + text.lastIndexOf('debugger');
}

interface Located extends Node {
  body?: Located[] | Located;
  consequent?: Located[] | Located;
}

const LISTS = new Set(['Program', 'BlockStatement', 'StaticBlock']);

/** Offset of a 0-based line and column in `source`, or -1. */
function offsetOf(source: string, line: number, column: number): number {
  let at = 0;
  for (let l = 0; l < line; l++) {
    at = source.indexOf('\n', at);
    if (at < 0) return -1;
    at++;
  }
  return at + column;
}

/**
 * The innermost statement list with a statement holding `offset`, that statement's index in it,
 * and the nodes from that statement down to the one at `offset`.
 */
function statementAt(root: Located, offset: number): { list: Located; index: number; path: Located[]; chain: Located[] } | null {
  let found: { list: Located; index: number; path: Located[]; chain: Located[] } | null = null;
  let node: Located = root;
  const chain: Located[] = [];
  for (;;) {
    chain.push(node);
    if (LISTS.has(node.type) && Array.isArray(node.body)) {
      const index = node.body.findIndex((st) => st.start <= offset && offset < st.end);
      if (index >= 0) found = { list: node, index, path: [], chain: [...chain] };
    }
    const child = childAround(node, offset);
    if (!child) return found;
    found?.path.push(child);
    node = child;
  }
}

/** Nodes whose code runs in another function, later, repeatedly or only sometimes. */
const NOT_STRAIGHT = new Set([
  'FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'ClassDeclaration', 'ClassExpression', 'MethodDefinition', 'PropertyDefinition',
  'WhileStatement', 'DoWhileStatement', 'TryStatement', 'LabeledStatement', 'WithStatement',
]);

/**
 * Whether the code at the end of `path` runs, when it runs, each time its statement (path[0]'s
 * parent list entry) begins, with nothing of that statement run before it but reads: not in a
 * nested function or class, a loop's body, test or update, a branch, or the right of && || ??.
 */
function straight(statement: Located, path: Located[]): boolean {
  let parent = statement;
  for (const child of path) {
    if (NOT_STRAIGHT.has(child.type)) return false;
    const p = parent as unknown as Record<string, unknown>;
    switch (parent.type) {
      case 'ForStatement':
        if (child !== p.init) return false;
        break;
      case 'ForInStatement':
      case 'ForOfStatement':
        if (child !== p.right) return false;
        break;
      case 'IfStatement':
      case 'ConditionalExpression':
        if (child !== p.test) return false;
        break;
      case 'LogicalExpression':
        if (child !== p.left) return false;
        break;
      case 'SwitchStatement':
        if (child !== p.discriminant) return false;
        break;
      case 'ChainExpression':
      case 'SwitchCase':
        return false;
    }
    parent = child;
  }
  return true;
}

/** The child node of `node` whose range holds `offset` (the next step down). */
function childAround(node: Located, offset: number): Located | null {
  for (const key of Object.keys(node)) {
    const value = (node as unknown as Record<string, unknown>)[key];
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (item && typeof item === 'object' && typeof (item as Located).type === 'string' && typeof (item as Located).start === 'number') {
        const n = item as Located;
        if (n.start <= offset && offset < n.end) return n;
      }
    }
  }
  return null;
}

/**
 * The last scripts parsed (a source's tree, or null when it does not parse), by source text: each
 * probe set at another line of the same file would parse it again (5 ms for a 3 KB Express app, about
 * 100 ms at live edit's bound of 100 KB).
 */
const trees = new Map<string, { module: boolean; root: Located | null }>();
const TREES_KEPT = 4;

function parsed(source: string, isModule: boolean): Located | null {
  const kept = trees.get(source);
  if (kept?.module === isModule) return kept.root;
  let root: Located | null;
  try {
    root = parse(source, { ecmaVersion: 'latest', sourceType: isModule ? 'module' : 'script', allowReturnOutsideFunction: !isModule, allowHashBang: true, allowAwaitOutsideFunction: isModule }) as Located;
  } catch {
    root = null;
  }
  trees.delete(source);
  if (trees.size >= TREES_KEPT) trees.delete(trees.keys().next().value!);
  trees.set(source, { module: isModule, root });
  return root;
}

/**
 * Where the guard for a statement starting at 0-based (line, column) of `source` goes, or null
 * when it cannot go there soundly (see the module header), or the source does not parse.
 */
export function guardPlace(source: string, isModule: boolean, line: number, column: number, n: number): GuardPlace | null {
  const offset = offsetOf(source, line, column);
  if (offset < 0) return null;
  const root = parsed(source, isModule);
  if (!root) return null;
  const found = statementAt(root, offset);
  if (!found) return null;
  const { list, index, path, chain } = found;
  const body = list.body as Located[];
  const statement = body[index]!;
  // The statement begins on the place's line, before it, and nothing of it runs before the place.
  if (statement.start > offset || source.slice(statement.start, offset).includes('\n') || !straight(statement, path.slice(1))) return null;
  // Right after the statement before it, or after the block's `{`; the script's first statement has no such place.
  let after: number;
  if (index > 0) after = body[index - 1]!.end;
  else if (list.type === 'BlockStatement' || list.type === 'StaticBlock') {
    after = source.indexOf('{', list.start) + 1;
    if (after <= 0 || after > statement.start) return null;
  } else return null;
  if (!/^[ \t]*\r?\n[ \t]*$/.test(source.slice(after, statement.start))) return null;
  const lineStart = source.lastIndexOf('\n', after - 1) + 1;
  const debuggerAt = guardText(n).indexOf('debugger');
  return { offset: after, line: line - 1, column: after - lineStart + debuggerAt, base: after - lineStart, scope: scopeAt(chain, after, source, isModule) };
}

/** The source with each guard inserted at its place (offsets in `original`); `text` defaults to the plain guard. */
export function withGuards(original: string, guards: { offset: number; n: number; text?: string }[]): string {
  let out = original;
  for (const g of [...guards].sort((a, b) => b.offset - a.offset)) out = `${out.slice(0, g.offset)}${g.text ?? guardText(g.n)}${out.slice(g.offset)}`;
  return out;
}
