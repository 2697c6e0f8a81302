// examples/hello.ts as plain JavaScript, for the benchmark's boot-only row (bench/http.ts): the
// same app with no TypeScript to load, so no tsx loader thread to start.
import { rack } from 'tspuma';

export default rack(() => [200, { 'content-type': 'text/html' }, ['Hello World\n']]);
