// A plain node:http listener: (req, res) with two parameters is served as a Node listener.
// Run: npx tspuma examples/node-listener.ts
import type { IncomingMessage, ServerResponse } from 'node:http';

export default function app(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/stream') {
    // Streaming with backpressure is node's own: write() returns false, wait for 'drain'.
    res.writeHead(200, { 'content-type': 'text/plain' });
    let i = 0;
    const next = () => {
      while (i < 5) {
        if (!res.write(`chunk ${i++}\n`)) return void res.once('drain', next);
      }
      res.end();
    };
    return next();
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`Hello from a Node listener: ${req.method} ${req.url}\n`);
}
