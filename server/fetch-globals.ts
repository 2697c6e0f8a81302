// While tspuma serves a fetch app, globalThis.Request and globalThis.Response are tspuma's: a
// Response that keeps the body it was built from (fetch-response.ts), so `new Response('hi')` and
// Hono's c.text() cost no ReadableStream and are written to the socket in one piece; and a Request
// class that accepts the Request tspuma built for the app (fetch-request.ts) wherever undici's is
// expected (`new Request(request, init)`). Both stay standard: `instanceof` holds for undici's own
// objects and tspuma's, statics and getters behave as undici's. Installed once, by adapters.ts,
// when a fetch app is adapted (never for Node listeners or Rack apps). Why replace globals at all: see
// docs/architecture.md, "Fetch apps".
import { FetchResponse, NativeResponse, nativeResponse } from './fetch-response.js';
import { IncomingRequest, NativeRequest, inheritRequest, nativeRequest, nativeRequestOf } from './fetch-request.js';

let installed = false;

/** The Request class installed as globalThis.Request: undici's, taking tspuma's requests as input (made at install: its base is undici's class). */
function fetchRequestClass(Native: typeof Request) {
  class FetchRequest extends Native {
    static override [Symbol.hasInstance](value: unknown): boolean {
      if (this === FetchRequest) return value instanceof Native;
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }
    constructor(input: ConstructorParameters<typeof Request>[0], init?: RequestInit & { duplex?: 'half' }) {
      const body = init?.body as { getReader?: unknown } | null | undefined;
      if (body && typeof body.getReader === 'function' && init!.duplex === undefined) init = { ...init, duplex: 'half' };
      super(nativeRequestOf(input) as ConstructorParameters<typeof Request>[0], init);
    }
  }
  Object.defineProperty(FetchRequest, 'name', { value: 'Request' });
  return FetchRequest;
}

/** Replaces globalThis.Request and globalThis.Response (once per process), after taking undici's own classes. */
export function installFetchGlobals(): void {
  if (installed) return;
  installed = true;
  nativeResponse();
  const FetchRequest = fetchRequestClass(nativeRequest());
  inheritRequest(FetchRequest.prototype);
  Object.defineProperty(globalThis, 'Request', { value: FetchRequest, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, 'Response', { value: FetchResponse, writable: true, configurable: true, enumerable: false });
}

export { IncomingRequest, NativeRequest, NativeResponse };
