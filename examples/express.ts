// Express 5, as is: an Express app is a (req, res, next) function, so tspuma serves it as a Node listener.
// Run: npx tspuma examples/express.ts
import express from 'express';

const app = express();
app.use(express.json());

app.get('/', (_req, res) => {
  res.type('text/plain').send('Hello from Express\n');
});

app.get('/users/:id', async (req, res) => {
  await new Promise((resolve) => setImmediate(resolve));
  res.json({ id: Number(req.params.id), name: `user ${req.params.id}` });
});

app.post('/echo', (req, res) => {
  res.json({ received: req.body as unknown });
});

export default app;
