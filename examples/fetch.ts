// A fetch-style handler: a one-argument function taking a web Request and returning a Response.
// Run: npx tspuma examples/fetch.ts
export default async function fetchApp(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/echo' && request.method === 'POST') {
    return new Response(request.body, { headers: { 'content-type': request.headers.get('content-type') ?? 'application/octet-stream' } });
  }
  if (url.pathname === '/stream') {
    // A web ReadableStream body, sent chunked with backpressure.
    let n = 0;
    const stream = new ReadableStream<string>({
      pull(controller) {
        if (n < 5) controller.enqueue(`event ${n++}\n`);
        else controller.close();
      },
    });
    return new Response(stream.pipeThrough(new TextEncoderStream()), { headers: { 'content-type': 'text/plain' } });
  }
  return Response.json({ hello: 'fetch', path: url.pathname, query: Object.fromEntries(url.searchParams) });
}
