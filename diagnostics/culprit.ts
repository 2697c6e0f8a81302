// Used by capture.ts and dumps.ts: which frame of a failure is the culprit. The app's own code
// wins over tspuma's, which wins over node internals and installed packages (never culprits).
import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tspuma's own sources (mapped back to .ts) and their compiled output. */
const OWN = ['server', 'diagnostics', 'inspector', 'dist'].map((d) => `${ROOT}${d}${sep}`);

export interface FrameLike {
  file: string;
  library?: boolean;
}

/** A frame in tspuma's own code (a file as frames show it: relative to cwd, or absolute). */
export function isServerFile(file: string): boolean {
  const abs = isAbsolute(file) ? file : resolve(file);
  return OWN.some((dir) => abs.startsWith(dir));
}

/** Index of the first app frame, else of the first tspuma frame, else -1. */
export function culpritIndex(frames: readonly FrameLike[]): number {
  let server = -1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (f.library) continue;
    if (!isServerFile(f.file)) return i;
    if (server < 0) server = i;
  }
  return server;
}
