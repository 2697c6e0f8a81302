// What the abort of a request whose response the server destroyed costs, alone: a node:http server
// with tspuma's response class and source maps on (as for a .ts app, or -d), whose handler destroys
// each response after writeHead, either through node-http.ts's destroyResponse (`armed`) or with
// a plain res.destroy() (`plain`); N requests, each on a new connection from an in-process client.
// Run under callgrind at two N and take the difference per request (bench/README.md, fifth round):
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node dist/bench/abort-stack.js armed 700
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SERVER_OPTIONS, destroyResponse } from '../server/node-http.js';

process.setSourceMapsEnabled(true);
const armed = process.argv[2] === 'armed';
const n = Number(process.argv[3] ?? 100);
let errors = 0;
const server = http.createServer(SERVER_OPTIONS, (req, res) => {
  req.on('error', () => errors++);
  res.writeHead(200);
  if (armed) destroyResponse(res);
  else res.destroy();
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      const q = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (r) => {
        r.resume();
        r.on('close', resolve);
      });
      q.on('error', () => resolve());
    });
  }
  // The last abort's error reaches its listener a tick after the socket closes.
  const deadline = Date.now() + 5000;
  while (errors < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (errors !== n) process.stderr.write(`the app saw ${errors} abort errors of ${n}\n`);
  server.close();
});
