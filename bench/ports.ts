// Used by bench/http.ts and bench/connections.ts: a free loopback port for the server they spawn,
// so a bench never takes a fixed port on a shared machine.
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
