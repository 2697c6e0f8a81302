// Module hooks registered after tsx's (so consulted first): a CommonJS module that an ES module
// imports is handed back to Node's own CommonJS loader, never evaluated from hook-supplied source.
//
// Why: on Node 20, CommonJS source returned by a load hook (tsx returns compiled .cts) is run by
// the ESM translator's own require(), which fails on a chain of plain requires reaching a .json
// (express -> http-errors -> statuses -> codes.json: "Cannot read properties of undefined (reading
// 'exports')"), and nests one synthetic-module evaluation per require; with `-d`, a pause at any
// throw inside that nesting makes node abort (module_wrap.cc: `!try_catch.Message().IsEmpty()`).
// A nullish source for a file: URL is Node's documented way back to Module._load, which goes
// through require.extensions: tsx's CommonJS hook and ts-loader.ts's esbuild compile still apply.

interface LoadResult {
  format?: string | null;
  source?: unknown;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: object) => Promise<LoadResult>;

export async function load(url: string, context: object, next: NextLoad): Promise<LoadResult> {
  const result = await next(url, context);
  if (result.format === 'commonjs' && url.startsWith('file:') && result.source != null) {
    return { format: 'commonjs', source: null, shortCircuit: true };
  }
  return result;
}
