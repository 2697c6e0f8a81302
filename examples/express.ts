// Express 5, as is: an Express app is a (req, res, next) function, so tspuma serves it as a Node listener.
// Run: npx tspuma examples/express.ts
import express from 'express';
import { AccountRepository } from './users-repo.js';

const app = express();
app.use(express.json());

app.get('/', (_req, res) => {
  res.type('text/plain').send('Hello from Express\n');
});

app.get('/users/:id', async (req, res) => {
  await new Promise((resolve) => setImmediate(resolve));
  res.json({ id: Number(req.params.id), name: `user ${req.params.id}` });
});

// A route whose work is in another module (a 500 with its dump under --debug for an id <= 0).
const accounts = new AccountRepository();
app.get('/accounts/:id', async (req, res) => {
  res.json(await accounts.findById(Number(req.params.id)));
});

app.post('/echo', (req, res) => {
  res.json({ received: req.body as unknown });
});

// An order: a total, a coupon that may not exist (a 500 with its dump under --debug), a charge
// made with a secret key (redacted in dumps, snapshots and logpoints by its name).
interface Item {
  sku: string;
  price: number;
  quantity: number;
}
const COUPONS: Record<string, number> = { WELCOME10: 10, SPRING5: 5 };
const paymentApiKey = process.env.PAYMENT_API_KEY ?? 'sk_test_example_key_0000';
let lastOrderId = 1000;

function discountFor(coupon: string, subtotal: number): number {
  const percent = COUPONS[coupon];
  if (percent === undefined) throw new Error(`unknown coupon ${coupon}`);
  return (subtotal * percent) / 100;
}

async function chargeCard(order: { id: number; total: number }, apiKey: string): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  return `ch_${order.id}_${apiKey.length}`;
}

app.post('/orders', async (req, res) => {
  const { items = [], coupon } = req.body as { items?: Item[]; coupon?: string };
  let subtotal = 0;
  for (const item of items) {
    subtotal += item.price * item.quantity;
  }
  const discount = coupon ? discountFor(coupon, subtotal) : 0;
  const order = { id: ++lastOrderId, items: items.length, total: subtotal - discount };
  const charge = await chargeCard(order, paymentApiKey);
  res.status(201).json({ ...order, charge });
});

export default app;
