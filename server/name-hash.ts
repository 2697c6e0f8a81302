// A short hash of a text for naming cache files (V8 code caches, compiled TypeScript): which
// node, flags, copy of a file or compile settings an entry is for. Not a check of content and not
// cryptographic: each cache is checked by what reads it (V8 refuses a cache made for another
// source or flags; a compiled entry holds its whole key). Imports nothing, so the TypeScript hooks
// thread and the modules every process runs first take it alone, with no node:crypto (issue 31).

/** 64 bits of `text` as 16 hex digits (FNV-1a and a multiply-xorshift lane): a file name, not a check. */
export function nameHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
