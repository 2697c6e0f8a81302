// A fetch handler's Response with headers of its own, a plain record of two (findings fetch13.2):
// an app for bench/fetch-invoke.ts, the general writer's row.
export default {
  fetch(_request: Request): Response {
    return new Response('Hello World\n', { headers: { 'content-type': 'text/plain', 'x-a': 'b' } });
  },
};
