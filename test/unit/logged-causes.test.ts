// The logger's err serializer with a coded error that quotes its cause: pino appends each cause's
// message to the logged message, which for such an error repeated the cause after the final stop.
import { describe, expect, it } from 'vitest';
import { TspumaError } from '../../server/errors.js';
import { captureLogger } from '../helpers/server.js';

describe("a logged error's message and its causes", () => {
  it('an error whose message quotes its cause is logged once, without ".: cause" after it (N22)', async () => {
    const { logger, lines } = captureLogger();
    const cause = AbortSignal.timeout(0);
    await new Promise((r) => setTimeout(r, 5));
    const timeout = cause.reason as Error;
    const err = new TspumaError('TSPUMA_ERR_APP_TIMEOUT', { message: timeout.message }, { cause: timeout });
    logger.error({ err }, 'GET /slow failed');
    const other = new Error('query failed', { cause: new Error('connection reset') });
    logger.error({ err: other }, 'GET /db failed');
    await new Promise((r) => setImmediate(r));
    expect((lines[0]!.err as { message: string }).message).toBe('The app rejected with a TimeoutError (The operation was aborted due to timeout): answered 504 Gateway Timeout.');
    // A cause the message does not quote is still appended, as pino does.
    expect((lines[1]!.err as { message: string }).message).toBe('query failed: connection reset');
  });
});
