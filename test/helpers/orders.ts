// POST /orders to examples/express.ts, on a new connection each time (so any worker may take it).
import { request } from 'node:http';

/** Resolves with the status and body. */
export function postOrder(base: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)), connection: 'close', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** An order's items: one line of `quantity` at `price`. */
export const items = (price: number, quantity = 1) => [{ sku: 'A-1', price, quantity }];
