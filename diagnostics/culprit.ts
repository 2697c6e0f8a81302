// Whose code a frame is (the app's, tspuma's, node's or an installed package's), and which frame
// of a failure is the culprit: the app's own code wins over tspuma's, which wins over node
// internals and installed packages (never culprits).
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FrameOrigin } from './model.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** tspuma's package folder: this file is in diagnostics/ there, or in dist/diagnostics/. */
const PARENT = dirname(HERE);
const ROOT = basename(PARENT) === 'dist' ? dirname(PARENT) : PARENT;
/** tspuma's own sources (mapped back to .ts) and their compiled output. */
const OWN = ['server', 'diagnostics', 'inspector', 'dist'].map((d) => `${join(ROOT, d)}${sep}`);

/** tspuma's compiled output folder (dist/): a script there is tspuma's whatever its source map says. */
const OWN_COMPILED = `${join(ROOT, 'dist')}${sep}`;

/** Whether a script path (absolute, as V8 names it, not source-mapped) is tspuma's own compiled code. */
export function isOwnCompiled(path: string): boolean {
  return path.startsWith(OWN_COMPILED);
}

/** Whose code a frame's file (as a dump shows it: relative to cwd, or absolute) is. */
export function originOf(file: string): FrameOrigin {
  if (file.startsWith('node:') || file.startsWith('internal/') || file === '<anonymous>' || file === '') return 'node';
  const abs = isAbsolute(file) ? file : resolve(process.cwd(), file);
  if (OWN.some((dir) => abs.startsWith(dir))) return 'tspuma';
  if (abs.includes(`${sep}node_modules${sep}`)) return 'dependency';
  return 'app';
}

export interface FrameLike {
  file: string;
  library?: boolean;
  /** Whose code the frame is, when already known (originOf(file)): then its file is not read. */
  origin?: FrameOrigin;
}

/** A frame in tspuma's own code. */
export function isServerFile(file: string): boolean {
  return originOf(file) === 'tspuma';
}

/** Index of the first app frame, else of the first tspuma frame, else -1. */
export function culpritIndex(frames: readonly FrameLike[]): number {
  let server = -1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (f.library) continue;
    // A captured frame knows its origin: its file (a source-mapped position) is then not read.
    if (f.origin !== undefined ? f.origin !== 'tspuma' : !isServerFile(f.file)) return i;
    if (server < 0) server = i;
  }
  return server;
}
