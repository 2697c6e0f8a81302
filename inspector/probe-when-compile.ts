// Compiles a probe's `--when` into its live-edit gate (probe-edits.ts), for a checked subset of
// JavaScript whose evaluation cannot run the app's code: literals; names that are parameters or
// locals in scope at the probed line (or `undefined`, `NaN`, `Infinity`); member reads `a.b`,
// `a?.b`, `a["lit"]`, `a[0]`, each through the gate's reader (probe-when-gate.ts: data properties
// only, "undecided" at a getter or a proxy); `!`, `typeof`, `void`, && || ?? and `? :` on any
// value; comparisons and arithmetic on primitives only (an object there would run its valueOf:
// "undecided"). Anything else (a call, `new`, an assignment, `in`, a regular expression, `this`,
// a template literal…) is not compiled: the probe keeps its conditional breakpoint, and the reason
// is what the set answer says. The scope comes from the script as V8 runs it (names the compiler
// renamed, `discounts2` for `discounts`, make a condition not compiled), so a name reads the
// binding the source's name means. A name that may be in its temporal dead zone when the line
// runs (a `let` of an enclosing function or the module: a closure may run before it is set) is
// read inside a try, whose catch answers "undecided"; one declared below the line in its own
// function is always in it, and not compiled.
import { parse, type Node } from 'acorn';

/**
 * How a name is bound where the guard runs: set; maybe not set yet (a `let` of an enclosing
 * scope: read in a try); not set yet (declared below, in its own function); or a binding of an
 * enclosing scope that the guard's function does not use, which V8 may keep no copy of for it
 * (a live edit reading it would read a slot the running code does not have).
 */
export type Binding = 'set' | 'maybe-unset' | 'unset' | 'unused-outer';

/** The bindings in scope at a place of a script: a name's binding (innermost), and every name bound around it. */
export interface Scope {
  lookup(name: string): Binding | null;
  names: ReadonlySet<string>;
  /** Why no condition can be compiled here at all (a `with`, a direct eval), or null. */
  unsure: string | null;
}

/** The gate's member reader, primitive check, chain helpers and "undecided" value, as the guard names them. */
export interface GateNames {
  gate: string;
}

export type CompiledWhen = { ok: true; code: string } | { ok: false; reason: string };

interface N extends Node {
  [key: string]: unknown;
}

/** The node types of a function (its own scope, params and `this`); probe-edits.ts's guard place reads it too. */
export const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
const GLOBALS = new Set(['undefined', 'NaN', 'Infinity']);
const ARITHMETIC = new Set(['<', '>', '<=', '>=', '+', '-', '*', '/', '%', '**', '&', '|', '^', '<<', '>>', '>>>']);

class NotCompiled extends Error {}

/** The names a binding pattern declares (`{ a, b: [c, ...d] = [] }` -> a, c, d). */
export function patternNames(p: N | null | undefined, out: string[] = []): string[] {
  if (!p) return out;
  switch (p.type) {
    case 'Identifier':
      out.push(p.name as string);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties as N[]) patternNames(prop.type === 'RestElement' ? (prop.argument as N) : (prop.value as N), out);
      break;
    case 'ArrayPattern':
      for (const e of p.elements as (N | null)[]) patternNames(e, out);
      break;
    case 'RestElement':
      patternNames(p.argument as N, out);
      break;
    case 'AssignmentPattern':
      patternNames(p.left as N, out);
      break;
  }
  return out;
}

/** `var` names of a function body (not of the functions in it). */
function varNames(node: N | null | undefined, out: string[]): void {
  if (!node || typeof node !== 'object') return;
  if (FUNCTIONS.has(node.type) || node.type === 'ClassDeclaration' || node.type === 'ClassExpression') return;
  if (node.type === 'VariableDeclaration' && node.kind === 'var') for (const d of node.declarations as N[]) patternNames(d.id as N, out);
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) for (const x of v) varNames(x as N, out);
    else if (v && typeof v === 'object' && typeof (v as N).type === 'string') varNames(v as N, out);
  }
}

/**
 * The scope at `offset` (where the guard goes: right before the probed statement), from the
 * nodes around it, outermost first. A name declared by let/const/class in the function the guard
 * is in is set when its declaration comes before the guard, unset (its TDZ) when at or after it;
 * one of an enclosing function or the module may be unset when a closure runs early.
 */
export function scopeAt(chain: readonly Node[], offset: number, source: string, isModule: boolean): Scope {
  const found = new Map<string, Binding>();
  const names = new Set<string>();
  let own = true;
  // The names the guard's function (or the module, for module code) already reads from outside it.
  let ownNode: N | undefined;
  for (let i = chain.length - 1; i >= 0 && !ownNode; i--) if (FUNCTIONS.has(chain[i]!.type) || chain[i]!.type === 'Program') ownNode = chain[i] as N;
  const used = ownNode ? freeNames(ownNode) : new Set<string>();
  const bind = (name: string, b: Binding) => {
    names.add(name);
    if (found.has(name)) return;
    found.set(name, !own && !used.has(name) ? 'unused-outer' : b);
  };
  const lexical = (st: N, b: (start: number) => Binding) => {
    if (st.type === 'VariableDeclaration' && st.kind !== 'var') for (const d of st.declarations as N[]) for (const n of patternNames(d.id as N)) bind(n, b(st.start));
    else if (st.type === 'ClassDeclaration' && st.id) bind((st.id as N).name as string, b(st.start));
    else if (st.type === 'FunctionDeclaration' && st.id) bind((st.id as N).name as string, 'set');
    else if (st.type === 'ImportDeclaration') for (const s of st.specifiers as N[]) bind((s.local as N).name as string, 'maybe-unset');
  };
  let unsure: string | null = null;
  for (let i = chain.length - 1; i >= 0; i--) {
    const node = chain[i] as N;
    const inner = chain[i + 1] as N | undefined;
    const here = (start: number): Binding => (!own ? 'maybe-unset' : start < offset ? 'set' : 'unset');
    switch (node.type) {
      case 'WithStatement':
        unsure = 'the line is inside a `with` statement';
        break;
      case 'Program':
      case 'BlockStatement':
      case 'StaticBlock':
        for (const st of node.body as N[]) lexical(st, here);
        if (node.type === 'Program') {
          const vars: string[] = [];
          for (const st of node.body as N[]) varNames(st, vars);
          for (const v of vars) bind(v, 'set');
        }
        break;
      case 'SwitchStatement':
        for (const c of node.cases as N[]) for (const st of c.consequent as N[]) lexical(st, () => 'maybe-unset');
        break;
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement': {
        const decl = (node.type === 'ForStatement' ? node.init : node.left) as N | null;
        if (decl?.type === 'VariableDeclaration' && decl.kind !== 'var' && inner === node.body) for (const d of decl.declarations as N[]) for (const n of patternNames(d.id as N)) bind(n, own ? 'set' : 'maybe-unset');
        break;
      }
      case 'CatchClause':
        for (const n of patternNames(node.param as N | null)) bind(n, 'set');
        break;
      case 'ClassDeclaration':
      case 'ClassExpression':
        if (node.id) bind((node.id as N).name as string, 'maybe-unset');
        break;
      case 'PropertyDefinition':
        own = false;
        break;
    }
    if (FUNCTIONS.has(node.type)) {
      for (const p of node.params as N[]) for (const n of patternNames(p)) bind(n, 'set');
      const vars: string[] = [];
      varNames(node.body as N, vars);
      for (const v of vars) bind(v, 'set');
      if (node.type === 'FunctionExpression' && node.id) bind((node.id as N).name as string, 'set');
      own = false;
    }
  }
  // A direct eval in sloppy code may declare a var the text does not show.
  if (!isModule && /\beval\s*\(/.test(source)) unsure ??= 'the script calls eval(), which may declare names the parser cannot see';
  return { lookup: (name) => found.get(name) ?? null, names, unsure };
}

/** Names a function reads that it does not declare anywhere in it (nor its nested functions): reads of enclosing scopes. */
function freeNames(fn: N): Set<string> {
  const refs = new Set<string>();
  const declared = new Set<string>();
  const walk = (node: N, parent: N | null, key: string): void => {
    if (node.type === 'Identifier') {
      const p = parent as N | null;
      const isKey = p && !p.computed && ((p.type === 'MemberExpression' && key === 'property') || ((p.type === 'Property' || p.type === 'MethodDefinition' || p.type === 'PropertyDefinition') && key === 'key' && !p.shorthand));
      const isLabel = p && (p.type === 'LabeledStatement' || p.type === 'BreakStatement' || p.type === 'ContinueStatement') && key === 'label';
      if (!isKey && !isLabel && p?.type !== 'MetaProperty') refs.add(node.name as string);
      return;
    }
    if (node.type === 'VariableDeclarator') for (const n of patternNames(node.id as N)) declared.add(n);
    if ((FUNCTIONS.has(node.type) || node.type === 'ClassDeclaration' || node.type === 'ClassExpression') && node.id && node !== fn) declared.add((node.id as N).name as string);
    if (FUNCTIONS.has(node.type)) for (const p of node.params as N[]) for (const n of patternNames(p)) declared.add(n);
    if (node.type === 'CatchClause') for (const n of patternNames(node.param as N | null)) declared.add(n);
    if (node.type === 'ImportDeclaration') for (const sp of node.specifiers as N[]) declared.add((sp.local as N).name as string);
    for (const k of Object.keys(node)) {
      const v = node[k];
      if (Array.isArray(v)) for (const x of v) x && typeof x === 'object' && typeof (x as N).type === 'string' && walk(x as N, node, k);
      else if (v && typeof v === 'object' && typeof (v as N).type === 'string') walk(v as N, node, k);
    }
  };
  walk(fn, null, '');
  for (const d of declared) refs.delete(d);
  return refs;
}

/** Literal member keys as the reader takes them. */
function literalKey(n: N): string | null {
  if (n.type !== 'Literal') return null;
  const v = n.value;
  return typeof v === 'string' || typeof v === 'number' ? JSON.stringify(String(v)) : null;
}

/**
 * `when` compiled against `scope`: the expression the guard evaluates (its value passed to the
 * gate's `w`), or why it is not compiled.
 */
export function compileWhen(when: string, scope: Scope, g: GateNames): CompiledWhen {
  if (scope.unsure) return { ok: false, reason: scope.unsure };
  let root: N;
  try {
    const program = parse(`(${when}\n)`, { ecmaVersion: 'latest', sourceType: 'script' }) as unknown as N;
    const body = program.body as N[];
    if (body.length !== 1 || body[0]!.type !== 'ExpressionStatement') return { ok: false, reason: 'it is not one expression' };
    root = body[0]!.expression as N;
  } catch (err) {
    return { ok: false, reason: `it does not parse (${(err as Error).message})` };
  }
  let wrap = false;
  const G = g.gate;
  const prim = (x: N) => (x.type === 'Literal' ? gen(x) : `${G}.p(${gen(x)})`);
  const nullish = (x: N) => (x.type === 'Literal' && x.value === null && x.raw === 'null') || (x.type === 'Identifier' && x.name === 'undefined' && scope.lookup('undefined') === null);
  function gen(n: N): string {
    switch (n.type) {
      case 'Literal':
        if (n.regex) throw new NotCompiled('it runs a regular expression');
        if (n.bigint !== undefined) throw new NotCompiled('it has a BigInt literal');
        return typeof n.value === 'string' ? JSON.stringify(n.value) : String(n.raw);
      case 'Identifier': {
        const name = n.name as string;
        const b = scope.lookup(name);
        const renamed = [...scope.names].find((x) => x !== name && new RegExp(`^${name.replace(/\$/g, '\\$')}_?\\d+$`).test(x));
        if (renamed) throw new NotCompiled(`\`${renamed}\` is in scope beside \`${name}\`: the compiled code may name the source's \`${name}\` so`);
        if (b === null) {
          if (GLOBALS.has(name)) return name;
          throw new NotCompiled(`it reads \`${name}\`, which is not a parameter or local in scope at the line`);
        }
        if (b === 'unset') throw new NotCompiled(`it reads \`${name}\` before its declaration (not set yet when the line runs)`);
        if (b === 'unused-outer') throw new NotCompiled(`it reads \`${name}\`, a name of an enclosing scope that this function does not use, so V8 may keep no copy of it here`);
        if (b === 'maybe-unset') wrap = true;
        return name;
      }
      case 'MemberExpression': {
        const object = n.object as N;
        if (object.type === 'Super') throw new NotCompiled('it reads through `super`');
        const property = n.property as N;
        let key: string | null;
        if (!n.computed) {
          if (property.type === 'PrivateIdentifier') throw new NotCompiled('it reads a private field');
          key = JSON.stringify(property.name);
        } else key = literalKey(property);
        if (key === null) throw new NotCompiled('it reads a computed member whose key is not a literal');
        return `${G}.${n.optional ? 'o' : 'r'}(${gen(object)},${key})`;
      }
      case 'ChainExpression':
        return `${G}.c(${gen(n.expression as N)})`;
      case 'UnaryExpression': {
        const arg = n.argument as N;
        switch (n.operator) {
          case '!':
            return `(!(${gen(arg)}))`;
          case 'typeof':
            return `(typeof (${gen(arg)}))`;
          case 'void':
            return `(void (${gen(arg)}))`;
          case '-':
          case '+':
          case '~':
            return `(${n.operator}${prim(arg)})`;
          default:
            throw new NotCompiled(`it uses \`${n.operator as string}\``);
        }
      }
      case 'BinaryExpression': {
        const op = n.operator as string;
        const left = n.left as N;
        const right = n.right as N;
        if (left.type === 'PrivateIdentifier') throw new NotCompiled('it tests a private field');
        if (op === '===' || op === '!==') return `((${gen(left)})${op}(${gen(right)}))`;
        if (op === '==' || op === '!=') return nullish(left) || nullish(right) ? `((${gen(left)})${op}(${gen(right)}))` : `(${prim(left)}${op}${prim(right)})`;
        if (ARITHMETIC.has(op)) return `(${prim(left)}${op}${prim(right)})`;
        throw new NotCompiled(`it uses \`${op}\`, which may run the app's code (a proxy's trap, Symbol.hasInstance)`);
      }
      case 'LogicalExpression':
        return `((${gen(n.left as N)})${n.operator as string}(${gen(n.right as N)}))`;
      case 'ConditionalExpression':
        return `((${gen(n.test as N)})?(${gen(n.consequent as N)}):(${gen(n.alternate as N)}))`;
      case 'CallExpression':
        throw new NotCompiled('it calls a function');
      case 'NewExpression':
        throw new NotCompiled('it runs a constructor (`new`)');
      case 'AssignmentExpression':
      case 'UpdateExpression':
        throw new NotCompiled('it assigns');
      case 'AwaitExpression':
      case 'YieldExpression':
        throw new NotCompiled(`it uses \`${n.type === 'AwaitExpression' ? 'await' : 'yield'}\``);
      case 'TemplateLiteral':
      case 'TaggedTemplateExpression':
        throw new NotCompiled('it has a template literal');
      case 'ThisExpression':
        throw new NotCompiled('it reads `this`');
      default:
        throw new NotCompiled(`it has ${n.type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}`);
    }
  }
  let code: string;
  try {
    code = gen(root);
  } catch (err) {
    if (err instanceof NotCompiled) return { ok: false, reason: err.message };
    throw err;
  }
  // A name that may be unset (its TDZ) throws a ReferenceError: caught, and the gate is told "undecided".
  return { ok: true, code: wrap ? `(()=>{try{return ${code}}catch{return ${G}.U}})()` : code };
}
