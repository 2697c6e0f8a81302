// `node dist/bench/lab-steps.js DIR`: a lab copy of this built checkout in DIR whose request path
// can skip its steps one by one, for issue 27's accounting of tspuma's own request path
// (bench/README.md, session 15). The copy's built files get switches read once at boot from
// LAB_SKIP (a comma-separated list of the step names below); with LAB_SKIP unset the copy runs
// the code as built. Not a build of the product: skipping a step drops its behaviour (a skipped
// admission admits every request), so a lab server only answers the benchmarks' GET /.
//   node dist/bench/lab-steps.js /tmp/lab
//   LAB_SKIP=admission node /tmp/lab/dist/server/cli.js -q -e production -b tcp://127.0.0.1:PORT bench/listener-app.ts
// In time: bench/cpu-processes.sh with several processes a step (`env LAB_SKIP=... node DIR/dist/server/cli.js ...`);
// in instructions: `cd DIR && LAB_SKIP=... MODE=callgrind node dist/bench/cpu-per-request.js listener`.
// Each patch names the text it replaces, which must occur exactly once: a change to the path fails
// here, loudly, instead of measuring a switch that no longer switches anything.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Patch {
  file: string;
  /** Text of the built file, replaced by `to` (once). */
  from: string;
  to: string;
}

/** The steps, each with what skipping it leaves out. */
export const STEPS: Record<string, string> = {
  bare: "the whole lifecycle: node:http's request event straight to the adapted app (no admission, deadlines, state, slot, keep-alive decision, request-done handling)",
  writable: "onRequest's check that the socket is still writable (a request after the connection's last response)",
  admission: 'readFraming and admissionError (Host, framing, method, URI checks)',
  closing: "onRequest's question to the server whether it is draining or busy (a closure call)",
  afterresp: "finished()'s call into the client errors (a parse error waiting for the response)",
  loopwatch: "finished()'s clock read and loop-block watch's ended()",
  eventstream: "the response's own writeHead (the event-stream check and the unread-body close): node's writeHead",
};

const guard = (name: string) => `LAB_SKIP.has('${name}')`;
const HEAD = "const LAB_SKIP = new Set((process.env.LAB_SKIP ?? '').split(','));\n";

const PATCHES: Patch[] = [
  { file: 'server/request-lifecycle.js', from: 'export function onResponseDone(res) {', to: `${HEAD}const LAB_FRAMING = { host: undefined, hosts: 0, length: undefined, transferEncoding: undefined };\nexport function onResponseDone(res) {` },
  { file: 'server/request-lifecycle.js', from: '    onRequest(req, res, expectsContinue = false) {\n', to: `    onRequest(req, res, expectsContinue = false) {\n        if (${guard('bare')}) return void this.d.app.invoke(req, res);\n` },
  { file: 'server/request-lifecycle.js', from: 'if (!socket.writable) {', to: `if (!${guard('writable')} && !socket.writable) {` },
  { file: 'server/request-lifecycle.js', from: 'const framing = readFraming(req);', to: `const framing = ${guard('admission')} ? LAB_FRAMING : readFraming(req);` },
  { file: 'server/request-lifecycle.js', from: 'const refused = admissionError(req, options, framing);', to: `const refused = ${guard('admission')} ? null : admissionError(req, options, framing);` },
  { file: 'server/request-lifecycle.js', from: 'if (this.d.closing() || (entry.requests', to: `if ((!${guard('closing')} && this.d.closing()) || (entry.requests` },
  { file: 'server/request-lifecycle.js', from: '        this.d.afterResponse(entry);\n', to: `        if (!${guard('afterresp')}) this.d.afterResponse(entry);\n` },
  { file: 'server/request-lifecycle.js', from: '        const loopWatch = this.d.loopWatch;\n', to: `        const loopWatch = ${guard('loopwatch')} ? null : this.d.loopWatch;\n` },
  { file: 'server/node-http.js', from: 'const kBodyExpected =', to: `${HEAD}const kBodyExpected =` },
  { file: 'server/node-http.js', from: '        this.writeHead = writeHeadChecked;', to: `        if (!${guard('eventstream')}) this.writeHead = writeHeadChecked;` },
];

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** Copies the build into `dir` (dist/ and package.json; node_modules, bench/ and examples/ linked) and patches the switches in. */
export function makeLab(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  for (const link of ['node_modules', 'bench', 'examples']) symlinkSync(path.join(ROOT, link), path.join(dir, link));
  for (const p of PATCHES) {
    const file = path.join(dir, 'dist', p.file);
    const text = readFileSync(file, 'utf8');
    const n = count(text, p.from);
    if (n !== 1) throw new Error(`lab-steps: ${p.file} holds ${n} copies of ${JSON.stringify(p.from)} (expected 1): the path changed, update bench/lab-steps.ts`);
    writeFileSync(file, text.replace(p.from, p.to));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write(`usage: node dist/bench/lab-steps.js DIR\nsteps (LAB_SKIP=a,b):\n${Object.entries(STEPS).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
    process.exit(2);
  }
  makeLab(path.resolve(dir));
  process.stdout.write(`lab copy in ${path.resolve(dir)}; steps (LAB_SKIP=a,b): ${Object.keys(STEPS).join(', ')}\n`);
}
