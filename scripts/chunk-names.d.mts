// Types of scripts/chunk-names.mjs (tests import it).
export declare const NAMES_SUFFIX: '.names.json';
/** The generated name -> source name table (renames only) of one script and its source map's payload; throws when a generated name stands for two source names. */
export declare function nameTable(file: string, code: string, payload: { names?: string[] } & Record<string, unknown>): Record<string, string>;
/** Writes `<file>.js.names.json` beside every mapped `*.js` under distDir that has renames; returns the tables written, by path. */
export declare function writeNameTables(distDir: string): Map<string, Record<string, string>>;
