// Watches a request body as node:http's parser pushes it into the request stream: counts a
// chunked body against httpContentLengthLimit, and holds the app back until a small body is
// complete (Puma's reactor reads bodies before a thread takes them), so a slow upload holds no
// invocation slot and a malformed chunk is refused before the app runs. The push it wraps and the
// `_consuming` mark it sets are node:http internals, reached through node-http.ts.
import type http from 'node:http';
import { interceptPush, markConsumed } from './node-http.js';

/** What the server does when the watch decides. */
export interface BodyOwner<S> {
  /** A chunked body passed the limit after `seen` bytes: answer 413 in the app's place. */
  bodyTooLarge(state: S, seen: number): void;
  /** The held body is complete, or larger than the hold: the app may run (and read the rest). */
  bodyReady(state: S): void;
}

export interface BodyWatchState {
  /** The server answered in the app's place: what still arrives is dropped. */
  takenOver: boolean;
  /** The app is held until bodyReady. */
  waiting: boolean;
}

/**
 * `limit`: bytes over which a chunked body gets 413 (null: none; a declared length was checked at
 * admission). `hold`: bytes up to which the body is read before the app runs (0: the app runs
 * now). While holding, push() reports room so the parser keeps reading: the request stream
 * buffers at most `hold` bytes (plus one chunk) before the app starts reading it.
 */
export function watchBody<S extends BodyWatchState>(req: http.IncomingMessage, state: S, owner: BodyOwner<S>, limit: number | null, hold: number): void {
  let seen = 0;
  state.waiting = hold > 0;
  const push = interceptPush(req, (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (state.takenOver) return true;
    if (chunk !== null) {
      seen += (chunk as Buffer).byteLength;
      if (limit !== null && seen > limit) {
        owner.bodyTooLarge(state, seen);
        return true;
      }
    }
    const room = push(chunk, encoding);
    if (!state.waiting) return room;
    if (chunk === null || seen > hold) {
      state.waiting = false;
      // The whole body is in the stream's buffer: reading it will not mark the request consumed.
      if (chunk === null) markConsumed(req);
      owner.bodyReady(state);
    }
    return true;
  });
}
