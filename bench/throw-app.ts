// The app for the benchmark's "throws 10%" rows (bench/http.ts): hello world, except that every
// tenth request throws from a helper, so -d pauses, captures (once per site) and counts repeats.
import { rack } from 'tspuma';

let served = 0;

function lookup(n: number): string {
  const userId = n;
  if (n % 10 === 0) throw new Error(`user ${userId} not found`);
  return 'Hello World\n';
}

export default rack(() => [200, { 'content-type': 'text/html' }, [lookup(++served)]]);
