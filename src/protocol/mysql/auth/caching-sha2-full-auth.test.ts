import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iamdbErrorOf } from '../test-support/hex.js';
import { CACHING_SHA2_PASSWORD_HASH_PATTERN, cachingSha2PasswordHash, encryptPasswordForServer, scrambleCachingSha2Password } from './caching-sha2-password.js';
import { createScramble } from './scramble.js';

// mysql2 and the openssl CLI are independent oracles here, never dependencies of the codec.
const require = createRequire(import.meta.url);
const sha2 = require(join(dirname(require.resolve('mysql2')), 'lib/auth_plugins/caching_sha2_password.js')) as {
  calculateToken(password: string, scramble: Buffer): Buffer;
};

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const dir = mkdtempSync(join(tmpdir(), 'iamdb-sha2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What MySQL 8 does with the blob: RSA-OAEP (SHA-1) decryption by openssl, then XOR with the nonce. */
function opensslDecrypt(blob: Buffer, nonce: Buffer): Buffer {
  writeFileSync(join(dir, 'key.pem'), privatePem);
  writeFileSync(join(dir, 'blob'), blob);
  const plain = execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', join(dir, 'key.pem'), '-in', join(dir, 'blob'), '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1']);
  return Buffer.from(plain.map((b, i) => b ^ (nonce[i % 20] as number)));
}

describe('caching_sha2_password scramble', () => {
  it('is XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)) as mysql2 computes it', () => {
    for (const pw of ['x', 'managed-Credential-0123456789', 'ünïcödé', 'y'.repeat(300)]) {
      const nonce = createScramble();
      expect(scrambleCachingSha2Password(pw, nonce)).toEqual(sha2.calculateToken(pw, nonce));
    }
  });
});

describe('caching_sha2_password full authentication without TLS (RSA)', () => {
  it('encrypts password + NUL XORed with the nonce, RSA-OAEP with SHA-1: openssl decrypts it', () => {
    const nonce = createScramble();
    // Longer than the nonce, so the XOR wraps around it.
    const pw = 'managed-Credential-0123456789';
    const blob = encryptPasswordForServer(pw, nonce, publicPem);
    expect(blob).toHaveLength(256);
    expect(opensslDecrypt(blob, nonce).toString('utf8')).toBe(`${pw}\0`);
  });

  it('decrypts to password + NUL XORed with the nonce, the transform MySQL clients apply (OAEP is randomized: bytes differ each time)', () => {
    const nonce = createScramble();
    const ours = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, encryptPasswordForServer('pw', nonce, publicKey));
    const xored = Buffer.from('pw\0').map((b, i) => b ^ (nonce[i % 20] as number));
    expect(ours).toEqual(xored);
    // A nonce with its trailing NUL (as servers send it) is the same nonce.
    const withNul = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, encryptPasswordForServer('pw', Buffer.concat([nonce, Buffer.alloc(1)]), publicPem));
    expect(withNul).toEqual(xored);
  });

  it('refuses keys and inputs MySQL 8 would not take or that would leak', () => {
    const nonce = createScramble();
    expect(iamdbErrorOf(() => encryptPasswordForServer('pw', nonce, 'not a key')).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => encryptPasswordForServer('pw', nonce, 'A'.repeat(9000))).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(iamdbErrorOf(() => encryptPasswordForServer('pw', nonce, ec)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(iamdbErrorOf(() => encryptPasswordForServer('pw', nonce, small)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => encryptPasswordForServer('x'.repeat(214), nonce, publicKey)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(encryptPasswordForServer('x'.repeat(213), nonce, publicKey)).toHaveLength(256);
    expect(iamdbErrorOf(() => encryptPasswordForServer('p\0w', nonce, publicKey)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => encryptPasswordForServer('pw', nonce.subarray(0, 8), publicKey)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    const err = iamdbErrorOf(() => encryptPasswordForServer('secret-pw-' + 'x'.repeat(300), nonce, publicKey));
    expect(err.message).not.toContain('secret-pw');
  });
});

describe('caching_sha2_password stored hash', () => {
  it("reproduces the authentication_string MySQL 8 stored for 'foobar' from its salt (TiDB's published vector)", () => {
    const stored = Buffer.from(
      '24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537',
      'hex',
    );
    expect(cachingSha2PasswordHash('foobar', stored.subarray(7, 27))).toBe(stored.toString('latin1'));
  });

  it('makes fresh alphanumeric salts that need no escaping, and a hash per salt', () => {
    const a = cachingSha2PasswordHash('pw');
    const b = cachingSha2PasswordHash('pw');
    expect(a).toMatch(CACHING_SHA2_PASSWORD_HASH_PATTERN);
    expect(a).toHaveLength(70);
    expect(a).not.toBe(b);
    expect(cachingSha2PasswordHash('pw', Buffer.from(a.slice(7, 27)))).toBe(a);
    expect(iamdbErrorOf(() => cachingSha2PasswordHash('pw', Buffer.alloc(19, 0x41))).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => cachingSha2PasswordHash('pw', Buffer.from('$'.repeat(20)))).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});
