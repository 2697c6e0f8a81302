// Server-sent events: a response with `content-type: text/event-stream` leaves the request pool
// once its head is sent (stats: connections.streaming), so a thousand listeners hold no slot.
// Idle streams close after upgradedIdleTimeout; stop ends every stream (EventSource reconnects).
// Run: npx tspuma examples/sse.ts   then: curl -N http://127.0.0.1:9292/events
export default function app(request: Request): Response {
  const url = new URL(request.url);
  if (url.pathname !== '/events') return new Response('GET /events for a stream of ticks\n');
  const every = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 1000), 10), 60_000);
  let n = Number(request.headers.get('last-event-id') ?? 0) || 0;
  let timer: NodeJS.Timeout | undefined;
  const body = new ReadableStream<string>({
    start(controller) {
      controller.enqueue(`retry: 1000\n\n`);
      timer = setInterval(() => {
        n++;
        controller.enqueue(`id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, at: new Date().toISOString() })}\n\n`);
      }, every);
    },
    cancel() {
      clearInterval(timer); // the client left, or the server ended the stream
    },
  });
  return new Response(body.pipeThrough(new TextEncoderStream()), {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
  });
}
