// The seed's Rack hello world: `lambda { |env| [200, {'Content-Type' => 'text/html'}, ["Hello World\n"]] }`.
// Run: npx tspuma examples/hello.ts   (or npm start)
import { rack } from 'tspuma';

export default rack(() => [200, { 'content-type': 'text/html' }, ['Hello World\n']]);
