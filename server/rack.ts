// Created by adapters.ts (Rack apps) and lowlevel.ts (the env given to lowlevelErrorHandler);
// turns a node:http request into Rack's env hash, which it hands to the app or the handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RackEnv } from './app-types.js';

/** "content-type" -> "HTTP_CONTENT_TYPE", cached: header names repeat across requests. */
const headerKeys = new Map<string, string>();
function envKey(name: string): string {
  let key = headerKeys.get(name);
  if (key === undefined) {
    key = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    if (headerKeys.size < 1000) headerKeys.set(name, key);
  }
  return key;
}

function splitHost(host: string | undefined, socket: Socket | undefined): [string, string] {
  const encrypted = (socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  if (host) {
    const colon = host.lastIndexOf(':');
    if (colon > host.lastIndexOf(']')) return [host.slice(0, colon), host.slice(colon + 1)];
    return [host, encrypted ? '443' : '80'];
  }
  return [socket?.localAddress ?? 'localhost', String(socket?.localPort ?? (encrypted ? 443 : 80))];
}

export function buildEnv(req: IncomingMessage, res?: ServerResponse): RackEnv {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const socket = req.socket as Socket | undefined;
  const [serverName, serverPort] = splitHost(req.headers.host, socket);
  const env: RackEnv = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: q === -1 ? url : url.slice(0, q),
    QUERY_STRING: q === -1 ? '' : url.slice(q + 1),
    REQUEST_URI: url,
    SERVER_NAME: serverName,
    SERVER_PORT: serverPort,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REMOTE_ADDR: socket?.remoteAddress ?? '',
    'rack.url_scheme': (socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http',
    'rack.input': req,
    'tspuma.request': req,
  };
  if (res) env['tspuma.response'] = res;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-type') env.CONTENT_TYPE = raw[i + 1];
    else if (name === 'content-length') env.CONTENT_LENGTH = raw[i + 1];
    else {
      const key = envKey(name);
      const prev = env[key];
      env[key] = prev === undefined ? raw[i + 1] : `${prev as string}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
    }
  }
  return env;
}

/** The env for a request node:http could not parse: what the socket alone tells. */
export function socketEnv(socket: Socket): RackEnv {
  return {
    REQUEST_METHOD: '',
    SCRIPT_NAME: '',
    PATH_INFO: '',
    QUERY_STRING: '',
    REQUEST_URI: '',
    SERVER_NAME: socket.localAddress ?? '',
    SERVER_PORT: String(socket.localPort ?? ''),
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: socket.remoteAddress ?? '',
    'rack.url_scheme': (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'rack.input': null,
  };
}
