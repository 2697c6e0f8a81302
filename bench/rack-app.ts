// The Rack hello of paired.sh's Rack row (examples/hello.ts, the seed's hello world), compiled with
// the benchmarks so bench/fetch-invoke.ts can call the Rack adapter's invoke on it without a server.
import type { RackResponse } from '../server/app-types.js';

export default (): RackResponse => [200, { 'content-type': 'text/html' }, ['Hello World\n']];
