// The app for the benchmark's "tspuma single (listener)" row (bench/http.ts): bench/raw-node.ts's
// handler, byte for byte, served by tspuma; set against raw node:http it isolates the server's own cost.
import type { IncomingMessage, ServerResponse } from 'node:http';

const body = 'Hello World\n';

export default function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
