// Reads the certificate, key and CA files of an ssl:// bind and checks them before node:tls
// sees them: a missing, empty, non-PEM, swapped, encrypted or mismatched file becomes
// TSPUMA_ERR_BIND_TLS naming the file and what is wrong with it.
import type { KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BindSpec } from './binder-uri.js';
import { TspumaError, fileProblem } from './errors.js';

/** What node:https takes for a bind's identity. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

type Role = 'cert' | 'key' | 'ca';

/** The PEM blocks a file holds, by kind. */
interface PemContent {
  certificates: number;
  privateKeys: number;
  encryptedKeys: number;
  publicKeys: number;
  requests: number;
  labels: string[];
}

const require = createRequire(import.meta.url);

export function pemContent(text: string): PemContent {
  const labels = [...text.matchAll(/^-----BEGIN ([A-Z0-9 ]+)-----\s*$/gm)].map((m) => m[1]!);
  const count = (test: (label: string) => boolean) => labels.filter(test).length;
  const legacyEncrypted = /^Proc-Type: 4,ENCRYPTED\s*$/m.test(text);
  const encryptedKeys = count((l) => l === 'ENCRYPTED PRIVATE KEY') + (legacyEncrypted ? count((l) => l.endsWith(' PRIVATE KEY') && l !== 'ENCRYPTED PRIVATE KEY') : 0);
  return {
    labels,
    certificates: count((l) => l === 'CERTIFICATE' || l === 'TRUSTED CERTIFICATE' || l === 'X509 CERTIFICATE'),
    privateKeys: count((l) => l === 'PRIVATE KEY' || l.endsWith(' PRIVATE KEY')) - encryptedKeys,
    encryptedKeys,
    publicKeys: count((l) => l.endsWith('PUBLIC KEY')),
    requests: count((l) => l.endsWith('CERTIFICATE REQUEST')),
  };
}

/** What a file that should be `role` holds instead, or null when it holds what it should. */
function wrongContent(role: Role, data: Buffer, pem: PemContent): string | null {
  if (data.length === 0) return 'is empty';
  if (pem.labels.length === 0) {
    // DER (binary ASN.1) starts with a SEQUENCE tag.
    if (data[0] === 0x30) {
      const convert = role === 'key' ? 'openssl pkey -inform der' : 'openssl x509 -inform der';
      return `is not PEM: it looks like binary DER (convert it with \`${convert} -in FILE -out FILE.pem\`)`;
    }
    return 'is not PEM: it has no -----BEGIN ...----- line';
  }
  const found = `it holds ${pem.labels.map((l) => `a ${l} block`).join(', ')}`;
  if (role === 'key') {
    if (pem.privateKeys + pem.encryptedKeys > 0) return null;
    if (pem.certificates > 0) return `holds a certificate, not a private key (${found})`;
    if (pem.publicKeys > 0) return `holds a public key; the private key is needed (${found})`;
    return `holds no private key (${found})`;
  }
  if (pem.certificates > 0) return null;
  if (pem.privateKeys + pem.encryptedKeys > 0) return `holds a private key, not a certificate (${found})`;
  if (pem.requests > 0) return `holds a certificate signing request, not a certificate (${found})`;
  return `holds no certificate (${found})`;
}

function fail(spec: BindSpec, reason: string, cause?: unknown): never {
  throw new TspumaError('TSPUMA_ERR_BIND_TLS', { uri: spec.uri, source: spec.source, reason }, cause === undefined ? undefined : { cause });
}

/** OpenSSL's reason without its "error:0480006C:PEM routines::" prefix. */
function reasonOf(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '');
}

/** Reads and checks the TLS files of an ssl:// bind; throws TSPUMA_ERR_BIND_TLS naming the file at fault. */
export function loadTlsFiles(spec: BindSpec): TlsFiles {
  const tls = spec.tls;
  if (!tls) fail(spec, 'the bind has no TLS files');
  const files: Record<Role, string | null> = { cert: tls.cert, key: tls.key, ca: tls.ca };
  const data: Partial<Record<Role, Buffer>> = {};
  const pem: Partial<Record<Role, PemContent>> = {};
  for (const role of ['cert', 'key', 'ca'] as const) {
    const file = files[role];
    if (file === null) continue;
    try {
      data[role] = readFileSync(file);
    } catch (err) {
      fail(spec, `the ${role} file ${file} ${fileProblem((err as NodeJS.ErrnoException).code)}`, err);
    }
    pem[role] = pemContent(data[role].toString('latin1'));
  }
  const certWrong = wrongContent('cert', data.cert!, pem.cert!);
  const keyWrong = wrongContent('key', data.key!, pem.key!);
  if (certWrong && keyWrong && pem.cert!.privateKeys + pem.cert!.encryptedKeys > 0 && pem.key!.certificates > 0) {
    fail(spec, `the cert file ${tls.cert} holds a private key and the key file ${tls.key} holds a certificate: they are swapped (exchange the ?cert= and ?key= values)`);
  }
  if (certWrong) fail(spec, `the cert file ${tls.cert} ${certWrong}`);
  if (keyWrong) fail(spec, `the key file ${tls.key} ${keyWrong}`);
  if (tls.ca) {
    const caWrong = wrongContent('ca', data.ca!, pem.ca!);
    if (caWrong) fail(spec, `the ca file ${tls.ca} ${caWrong}`);
  }
  if (pem.key!.encryptedKeys > 0) {
    fail(spec, `the key file ${tls.key} is encrypted with a passphrase, and tspuma takes none: write a decrypted copy readable only by the server's user (\`openssl pkey -in ${tls.key} -out KEYFILE\`, then chmod 600 KEYFILE)`);
  }

  const crypto = require('node:crypto') as typeof import('node:crypto');
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new crypto.X509Certificate(data.cert!);
  } catch (err) {
    fail(spec, `the cert file ${tls.cert} holds no valid certificate: ${reasonOf(err)}`, err);
  }
  try {
    key = crypto.createPrivateKey(data.key!);
  } catch (err) {
    fail(spec, `the key file ${tls.key} holds no valid private key: ${reasonOf(err)}`, err);
  }
  if (!cert.checkPrivateKey(key)) {
    fail(spec, `the key in ${tls.key} does not belong to the certificate in ${tls.cert} (${cert.subject.replace(/\n/g, ', ')}): use the key the certificate was issued for`);
  }
  const out: TlsFiles = { cert: data.cert!, key: data.key!, ...(data.ca ? { ca: data.ca } : {}) };
  // Anything else node:tls refuses (a CA bundle with a broken block, say), still named.
  try {
    (require('node:tls') as typeof import('node:tls')).createSecureContext(out);
  } catch (err) {
    fail(spec, `node:tls refused the files (cert ${tls.cert}, key ${tls.key}${tls.ca ? `, ca ${tls.ca}` : ''}): ${reasonOf(err)}`, err);
  }
  return out;
}
