// bench/connections.ts's default app: server-sent events from a Node listener (as an Express
// app writes them), so the count measures tspuma's cost per stream, not web streams' (~15 KB).
import type { IncomingMessage, ServerResponse } from 'node:http';

export default function app(req: IncomingMessage, res: ServerResponse): void {
  if (!req.url?.startsWith('/events')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' }).end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write('retry: 1000\n\n');
}
