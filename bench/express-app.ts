// The Express 5 app of the benchmark's Express pair (bench/http.ts): served by tspuma as is, and
// by Express's own `app.listen` on node:http (bench/anchors.ts).
import express from 'express';

const app = express();
app.get('/', (_req, res) => {
  res.send('Hello World\n');
});

export default app;
