// An in-process inspector session whose calls answer synchronously (a same-thread session does),
// for the probe benches (probe-pass.ts, probe-live-edit.ts).
import inspector from 'node:inspector';

export function syncSession(): { session: inspector.Session; post<T>(method: string, params?: object): T } {
  const session = new inspector.Session();
  session.connect();
  function post<T>(method: string, params: object = {}): T {
    let out: T | undefined;
    let failed: Error | null = null;
    session.post(method, params, (err: Error | null, res?: object) => {
      failed = err;
      out = res as T;
    });
    if (failed) throw failed;
    return out as T;
  }
  return { session, post };
}
