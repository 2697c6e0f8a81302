// The plain fetch handler of the benchmark's fetch pair (bench/http.ts): served by tspuma, and by
// @hono/node-server with no framework in between (bench/anchors.ts).
export default {
  fetch(_request: Request): Response {
    return new Response('Hello World\n');
  },
};
