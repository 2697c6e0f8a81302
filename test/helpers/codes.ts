// What a call throws, as its TSPUMA_ERR_ code: null when it returns, `uncoded: message` for an
// error without a code (so an assertion on the code fails on it).
import { isTspumaError } from '../../server/errors.js';

export function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return isTspumaError(err) ? err.code : `uncoded: ${(err as Error)?.message ?? String(err)}`;
  }
}
