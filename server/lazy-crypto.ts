// node:crypto when first needed, and random bytes without it. Loading node:crypto costs a process
// about 7.5 M instructions (~2 ms: its ~15 internal modules), which a server does not need to boot
// or to answer a request: the random prefix of its request ids (made for every request of a Rack
// app) and of its temporary file names is read from the kernel's random device, as node:crypto's
// own randomBytes is seeded; where that cannot be read, node:crypto makes it. The process probe's
// machine tag (a hash) loads node:crypto when it makes one (issue 31, boot5).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { closeSync, existsSync, openSync, readSync } = require('node:fs') as typeof import('node:fs');
let crypto: typeof import('node:crypto') | undefined;

/** The kernel's non-blocking random device (Linux, the BSDs, macOS). */
const URANDOM = '/dev/urandom';

/** node:crypto, loaded at the first call. */
export function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= require('node:crypto') as typeof import('node:crypto'));
}

/** Whether the device is there: looked for once, before the first read (a throw caught here would pause a -d process where there is none). */
let urandomThere: boolean | undefined;

/** `bytes` random bytes as hex: from /dev/urandom, else node:crypto's randomBytes. */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  if ((urandomThere ??= existsSync(URANDOM))) {
    try {
      const fd = openSync(URANDOM, 'r');
      try {
        if (readSync(fd, buf, 0, bytes, null) === bytes) return buf.toString('hex');
      } finally {
        closeSync(fd);
      }
    } catch {
      /* unreadable here (a sandbox): node:crypto below */
    }
  }
  return nodeCrypto().randomBytes(bytes).toString('hex');
}
