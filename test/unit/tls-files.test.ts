// TLS files of an ssl:// bind: good files load; swapped, non-PEM, empty, missing, mismatched,
// encrypted and public-key files are TSPUMA_ERR_BIND_TLS naming the file and the problem.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBind } from '../../server/binder-uri.js';
import { createHttpServer } from '../../server/binder.js';
import { TspumaError } from '../../server/errors.js';
import { loadTlsFiles } from '../../server/tls-files.js';
import { tempDir } from '../helpers/temp.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const CERT = readFileSync(join(FIXTURES, 'cert.pem'));
const KEY = readFileSync(join(FIXTURES, 'key.pem'));

/** A temp dir with the given files; returns the spec of an ssl:// bind on cert and key (and ca). */
function bind(files: Record<string, string | Buffer>, cert = 'cert.pem', key = 'key.pem', ca?: string) {
  const dir = tempDir('tls');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const uri = `ssl://127.0.0.1:0?cert=${cert}&key=${key}${ca ? `&ca=${ca}` : ''}`;
  return { dir, spec: parseBind(uri, '-b in command line', dir), uri };
}

/** The message of the TSPUMA_ERR_BIND_TLS that fn throws. */
function tlsError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_BIND_TLS');
    return (err as TspumaError).message;
  }
  throw new Error('expected TSPUMA_ERR_BIND_TLS, nothing was thrown');
}

describe('loadTlsFiles', () => {
  it('returns the files when the key matches the certificate, and createHttpServer uses them', async () => {
    const { spec } = bind({ 'cert.pem': CERT, 'key.pem': KEY, 'ca.pem': CERT }, 'cert.pem', 'key.pem', 'ca.pem');
    const files = loadTlsFiles(spec);
    expect(files.cert.equals(CERT)).toBe(true);
    expect(files.key.equals(KEY)).toBe(true);
    expect(files.ca!.equals(CERT)).toBe(true);
    const server = await createHttpServer(spec);
    expect(server.constructor.name).toBe('Server');
    expect('setSecureContext' in server).toBe(true);
  });

  it('names both files when the certificate and the key are swapped', async () => {
    const { dir, spec, uri } = bind({ 'cert.pem': CERT, 'key.pem': KEY }, 'key.pem', 'cert.pem');
    const message = tlsError(() => loadTlsFiles(spec));
    expect(message).toBe(
      `Bind \`${uri}\` (-b in command line): the cert file ${join(dir, 'key.pem')} holds a private key and the key file ${join(dir, 'cert.pem')} holds a certificate: they are swapped (exchange the ?cert= and ?key= values).`,
    );
    // createHttpServer goes through the same check: no OpenSSL "no start line".
    const refused = await createHttpServer(spec).then(() => null, (err: unknown) => err);
    expect(tlsError(() => {
      throw refused ?? new Error('createHttpServer resolved');
    })).toBe(message);
  });

  it('says which file is not PEM: text, binary DER, empty', () => {
    const der = createPrivateKey(KEY).export({ type: 'pkcs8', format: 'der' });
    const text = bind({ 'cert.pem': 'hello, I am a certificate\n', 'key.pem': KEY });
    expect(tlsError(() => loadTlsFiles(text.spec))).toContain(`the cert file ${join(text.dir, 'cert.pem')} is not PEM: it has no -----BEGIN ...----- line`);
    const bin = bind({ 'cert.pem': CERT, 'key.der': der }, 'cert.pem', 'key.der');
    expect(tlsError(() => loadTlsFiles(bin.spec))).toContain(`the key file ${join(bin.dir, 'key.der')} is not PEM: it looks like binary DER (convert it with \`openssl pkey -inform der`);
    const empty = bind({ 'cert.pem': CERT, 'key.pem': '' });
    expect(tlsError(() => loadTlsFiles(empty.spec))).toContain(`the key file ${join(empty.dir, 'key.pem')} is empty`);
  });

  it('names a file that disappeared after the bind was parsed, and a directory', () => {
    const gone = bind({ 'cert.pem': CERT, 'key.pem': KEY });
    rmSync(join(gone.dir, 'key.pem'));
    expect(tlsError(() => loadTlsFiles(gone.spec))).toContain(`the key file ${join(gone.dir, 'key.pem')} does not exist`);
    const dir = tempDir('tls');
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'key.pem'), KEY, { mode: 0o600 });
    const spec = parseBind('ssl://127.0.0.1:0?cert=certs&key=key.pem', 'config file x', dir);
    expect(tlsError(() => loadTlsFiles(spec))).toContain(`the cert file ${join(dir, 'certs')} is a directory`);
  });

  it('refuses a key that does not belong to the certificate, naming both files and the subject', () => {
    // 1024 bits: a 2048-bit key took 0.1-0.2 s of CPU to generate, and any other key does not belong.
    const other = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const { dir, spec } = bind({ 'cert.pem': CERT, 'other.pem': other }, 'cert.pem', 'other.pem');
    expect(tlsError(() => loadTlsFiles(spec))).toContain(
      `the key in ${join(dir, 'other.pem')} does not belong to the certificate in ${join(dir, 'cert.pem')} (CN=localhost): use the key the certificate was issued for`,
    );
  });

  it('refuses an encrypted key (PKCS#8 and the legacy Proc-Type form): tspuma takes no passphrase', () => {
    const pkcs8 = createPrivateKey(KEY).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' });
    const legacy = createPrivateKey(KEY).export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' });
    for (const content of [pkcs8, legacy]) {
      const { dir, spec } = bind({ 'cert.pem': CERT, 'key.pem': content });
      expect(tlsError(() => loadTlsFiles(spec))).toContain(`the key file ${join(dir, 'key.pem')} is encrypted with a passphrase, and tspuma takes none`);
    }
  });

  it('names what a key file holds instead of a private key, and a CA file without certificates', () => {
    const pkcs1 = createPrivateKey(KEY).export({ type: 'pkcs1', format: 'pem' });
    const publicKey = createPublicKey(KEY).export({ type: 'spki', format: 'pem' });
    const p = bind({ 'cert.pem': CERT, 'key.pem': publicKey });
    expect(tlsError(() => loadTlsFiles(p.spec))).toContain(`the key file ${join(p.dir, 'key.pem')} holds a public key; the private key is needed (it holds a PUBLIC KEY block)`);
    // A PKCS#1 "RSA PRIVATE KEY" is a private key: accepted.
    const rsa = bind({ 'cert.pem': CERT, 'key.pem': pkcs1 });
    expect(loadTlsFiles(rsa.spec).key.toString()).toContain('BEGIN RSA PRIVATE KEY');
    const ca = bind({ 'cert.pem': CERT, 'key.pem': KEY, 'ca.pem': KEY }, 'cert.pem', 'key.pem', 'ca.pem');
    expect(tlsError(() => loadTlsFiles(ca.spec))).toContain(`the ca file ${join(ca.dir, 'ca.pem')} holds a private key, not a certificate`);
  });

  it('names a certificate file whose PEM block is corrupt', () => {
    const broken = CERT.toString().replace(/^(-----BEGIN CERTIFICATE-----\n)MII/m, '$1XXX');
    const { dir, spec } = bind({ 'cert.pem': broken, 'key.pem': KEY });
    expect(tlsError(() => loadTlsFiles(spec))).toMatch(new RegExp(`the cert file ${join(dir, 'cert.pem')} holds no valid certificate: .+`));
  });
});
