// An EventSource-compatible reader for tests: fetches with Accept: text/event-stream and parses
// events (id, event, data, retry) as the WHATWG spec does, line by line.
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export interface SseReader {
  events: SseEvent[];
  /** Resolves when the server ends the stream (true) or the reader is aborted (false). */
  ended: Promise<boolean>;
  status: number;
  contentType: string | null;
  close(): void;
}

export async function openSse(url: string, lastEventId?: string): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: abort.signal });
  const events: SseEvent[] = [];
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | null = null;
  const line = (l: string) => {
    if (l === '') {
      if (data.length > 0) events.push({ id, event: event || 'message', data: data.join('\n') });
      data = [];
      event = '';
      return;
    }
    if (l.startsWith(':')) return; // a comment
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    const value = colon < 0 ? '' : l.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  };
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const sep = buffer.startsWith('\r\n', nl) ? 2 : 1;
          line(buffer.slice(0, nl));
          buffer = buffer.slice(nl + sep);
        }
      }
      return true;
    } catch {
      return false;
    }
  })();
  return { events, ended, status: res.status, contentType: res.headers.get('content-type'), close: () => abort.abort() };
}
