// node:crypto when first needed. Loading it costs a process about 7.5 M instructions (~2 ms: its
// ~15 internal modules), which a server that has made no request id, temporary file name or
// machine tag yet does not need: request ids, private files and the process probe ask for it
// when they make one (issue 31, boot5).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let crypto: typeof import('node:crypto') | undefined;

/** node:crypto, loaded at the first call. */
export function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= require('node:crypto') as typeof import('node:crypto'));
}

/** `bytes` random bytes (node:crypto's randomBytes) as hex. */
export function randomHex(bytes: number): string {
  return nodeCrypto().randomBytes(bytes).toString('hex');
}
