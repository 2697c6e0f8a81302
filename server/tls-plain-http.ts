// A plain HTTP request on an ssl:// bind (a proxy's `proxy_pass http://` to it, a health check
// without TLS, curl http://): TLS alone closes such a connection unanswered, and OpenSSL sees it
// only as a failed handshake. Each connection's first bytes are looked at before node:tls takes
// the socket: a TLS handshake record (0x16; SSLv2's 0x80) goes on to TLS with the bytes put back,
// which node:tls reads first; a request line (an upper-case method letter) is answered 400 "use
// https://" with Connection: close, as nginx answers, and warned of (throttled). Once per
// connection, before TLS; nothing per request.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { TspumaError } from './errors.js';
import { holdConnections } from './node-http.js';
import { Throttle } from './side-listener.js';

const BODY = '400 This port speaks TLS: send the request with https:// (TSPUMA_ERR_TLS_PLAIN_HTTP).\n';
const ANSWER = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nConnection: close\r\n\r\n${BODY}`;

/** Whether a connection's first byte starts an HTTP request line (a method: upper-case letters). */
export function startsPlainHttp(first: number): boolean {
  return first >= 0x41 && first <= 0x5a;
}

/**
 * Holds each new connection of the TLS `server` until its first bytes arrive (at most
 * `timeoutMs`, as the TLS handshake was bounded): plain HTTP is answered 400, anything else is
 * handed to node:tls (and every other `connection` listener) with those bytes put back in front.
 */
export function answerPlainHttp(server: http.Server, timeoutMs: number, log: Logger): void {
  const throttle = new Throttle();
  holdConnections(server, (socket, release) => {
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onGone);
      socket.off('end', onGone);
    };
    const onGone = (): void => {
      finish();
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      finish();
      socket.pause();
      if (startsPlainHttp(chunk[0]!)) return refuse(socket, throttle, log);
      socket.unshift(chunk);
      release();
    };
    const timer = setTimeout(onGone, timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.on('error', onGone);
    socket.on('end', onGone);
  });
}

function refuse(socket: Socket, throttle: Throttle, log: Logger): void {
  const remote = socket.remoteAddress ?? 'local';
  const port = socket.localPort ?? '?';
  const count = throttle.hit('plain-http');
  if (count !== null) {
    const err = new TspumaError('TSPUMA_ERR_TLS_PLAIN_HTTP', { remote, port });
    log.warn({ code: err.code, remote, port: socket.localPort, count }, `${err.message}${count > 1 ? ` (${count} so far)` : ''}`);
  }
  // The answer goes out and the side closes; what the client still sends is read and dropped
  // (closing with unread bytes would reset the connection, and the client could lose the answer)
  // for at most 2 s, as tspuma's other refusals linger.
  socket.on('error', () => socket.destroy());
  socket.end(ANSWER);
  socket.resume();
  socket.setTimeout(2000, () => socket.destroy());
}
