// Load for integration tests: autocannon bounded in time, stopped as soon as the test has seen
// what it needed under load.
import autocannon from 'autocannon';

/** Runs autocannon (at most `maxSeconds`) until `until` settles, then stops it; its result. */
export async function loadUntil(url: string, connections: number, maxSeconds: number, until: () => Promise<unknown>): Promise<autocannon.Result> {
  let load!: autocannon.Instance;
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    load = autocannon({ url, connections, duration: maxSeconds }, (err: unknown, res) => (err ? reject(err as Error) : resolve(res)));
  });
  try {
    await until();
  } finally {
    load.stop();
  }
  return result;
}
