// A node script (run in a process of its own: vitest's loader would rewrite the probed module)
// that imports `file`, asks inspector/probe-locations.ts's place() about its lines through a
// same-thread inspector session, and runs `body` with `script`, `post`, `place` and
// `possibleBreakpoints` in scope; `body` writes its answer to stdout.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli.js';

export function placeScript(file: string, body: string): string {
  return `
import { Session } from 'node:inspector';
import { pathToFileURL } from 'node:url';
const { place, possibleBreakpoints } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/inspector/probe-locations.js')).href)});
const file = ${JSON.stringify(file)};
const session = new Session();
session.connect();
const post = (method, params) => { let e = null, r; session.post(method, params, (err, res) => { e = err; r = res; }); if (e) throw e; return r; };
let script = null;
session.on('Debugger.scriptParsed', (m) => { if (m.params.url === pathToFileURL(file).href) script = { scriptId: m.params.scriptId, url: m.params.url, isModule: true }; });
post('Debugger.enable', {});
await import(pathToFileURL(file).href);
${body}
`;
}
