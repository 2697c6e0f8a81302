// The app of paired.sh's "-d / no -d (10% of requests throw)" pair, as a bench target
// (bench/cpu-per-request.ts `throws-listener`, `throws-listener-d`): a Node listener whose every
// tenth request throws from a helper after writeHead, with a local that explains the failure.
import type { IncomingMessage, ServerResponse } from 'node:http';

let served = 0;

function price(order: { qty: number }): number {
  const unit = order.qty > 0 ? 3 : NaN;
  if (Number.isNaN(unit)) throw new Error(`no price for qty ${order.qty}`);
  return unit * order.qty;
}

export default function app(_req: IncomingMessage, res: ServerResponse): void {
  const qty = ++served % 10 === 0 ? 0 : 2;
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end(String(price({ qty })));
}
