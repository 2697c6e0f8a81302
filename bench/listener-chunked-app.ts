// paired.sh's Node listener app (../shared/bench/apps/listener-app.ts) on tspuma: no Content-Length,
// so node frames the body in chunks; bench/listener-app.ts sets one. cpu-per-request's
// listener-chunked target against raw-chunked (bench/raw-node.ts with RAW_CHUNKED=1) counts the
// paired row's own response shape (issue 27, session 24).
import type { IncomingMessage, ServerResponse } from 'node:http';

export default function app(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('Hello World\n');
}
