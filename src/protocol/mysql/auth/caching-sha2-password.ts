/**
 * caching_sha2_password (MySQL 8's default plugin), the client's side and the
 * hash the server stores.
 *
 * Fast path: the client sends XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) +
 * nonce)); the server answers AuthMoreData 0x03 (fast auth ok, OK follows)
 * or 0x04 (perform full authentication: the password itself, over TLS in
 * clear with a NUL, else XORed with the nonce and RSA-OAEP encrypted with the
 * server's public key, which the client may ask for with 0x02).
 *
 * Stored form: `$A$005$` + 20 salt bytes + the 43-character SHA-256 crypt
 * digest of the password with that salt after 5000 rounds.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
 */
import { constants, createHash, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { IamdbError } from '../../../errors/index.js';
import { sha256CryptDigest } from './sha256-crypt.js';
import { PacketHeader } from '../constants.js';

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** AuthMoreData bytes of the caching_sha2 exchange. */
export const CachingSha2 = {
  /** Client asks for the server's RSA public key. */
  REQUEST_PUBLIC_KEY: 0x02,
  FAST_AUTH_SUCCESS: 0x03,
  PERFORM_FULL_AUTHENTICATION: 0x04,
} as const;

/** AuthMoreData 0x03: the fast path succeeded; the server's OK follows unasked. */
export function isFastAuthSuccess(payload: Uint8Array): boolean {
  return payload.length === 2 && payload[0] === PacketHeader.AUTH_MORE_DATA && payload[1] === CachingSha2.FAST_AUTH_SUCCESS;
}

/** AuthMoreData 0x04: the server asks for full authentication (the password itself). */
export function isFullAuthRequest(payload: Uint8Array): boolean {
  return payload.length === 2 && payload[0] === PacketHeader.AUTH_MORE_DATA && payload[1] === CachingSha2.PERFORM_FULL_AUTHENTICATION;
}

/**
 * The fast-auth scramble (32 bytes); empty for an empty password. The nonce
 * is the 20-byte scramble (a trailing NUL, if passed, is dropped).
 */
export function scrambleCachingSha2Password(password: string | Uint8Array, nonce: Uint8Array): Buffer {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (pw.length === 0) return Buffer.alloc(0);
  const n = nonce.length === 21 && nonce[20] === 0 ? nonce.subarray(0, 20) : nonce;
  const stage1 = sha256(pw);
  const mask = sha256(sha256(stage1), n);
  for (let i = 0; i < 32; i++) mask[i] = (mask[i] as number) ^ (stage1[i] as number);
  return mask;
}

/**
 * Hashes `CREATE USER … IDENTIFIED WITH caching_sha2_password AS '…'` takes
 * from iamdb: salts are letters and digits only, so the literal never needs
 * escaping (MySQL's own salts may hold any byte but NUL and '$').
 */
export const CACHING_SHA2_PASSWORD_HASH_PATTERN = /^\$A\$005\$[0-9A-Za-z]{20}[./0-9A-Za-z]{43}$/;

const SALT_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** 20 random letters and digits (rejection sampling keeps them uniform). */
function alphanumericSalt(random: (n: number) => Buffer): Buffer {
  const out = Buffer.alloc(20);
  let filled = 0;
  while (filled < 20) {
    for (const b of random(32)) if (b < 248 && filled < 20) out[filled++] = SALT_CHARS.charCodeAt(b % 62);
  }
  return out;
}

/**
 * The authentication_string MySQL 8 stores for `password` under
 * caching_sha2_password (5000 rounds, MySQL's default), with a fresh
 * alphanumeric salt unless one is given.
 * @example cachingSha2PasswordHash('pw') // '$A$005$' + 20 salt + 43 digest characters
 */
export function cachingSha2PasswordHash(password: string | Uint8Array, salt?: Uint8Array, random: (n: number) => Buffer = randomBytes): string {
  const s = salt ?? alphanumericSalt(random);
  if (s.length !== 20 || s.includes(0) || s.includes(0x24)) {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'caching_sha2_password hash', reason: 'the salt must be 20 bytes without NUL or $' });
  }
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  return `$A$005$${Buffer.from(s).toString('latin1')}${sha256CryptDigest(pw, s)}`;
}

/** Longest PEM public key accepted from a server (an RSA-16384 key is about 3 KiB). */
export const MAX_SERVER_PUBLIC_KEY_BYTES = 8192;

/**
 * The full-authentication answer on a link without TLS: password + NUL,
 * XORed with the 20-byte nonce (repeated), encrypted with the server's RSA
 * public key in PKCS#1 OAEP padding with SHA-1, as MySQL 8 decrypts it.
 */
export function encryptPasswordForServer(password: string | Uint8Array, nonce: Uint8Array, publicKey: string | Uint8Array | KeyObject): Buffer {
  const what = 'caching_sha2_password full authentication';
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (pw.includes(0)) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the password contains a NUL byte' });
  const n = nonce.length === 21 && nonce[20] === 0 ? nonce.subarray(0, 20) : nonce;
  if (n.length !== 20) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the nonce must be 20 bytes' });
  const key = publicKeyOf(publicKey, what);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  // OAEP with SHA-1 carries at most k - 42 bytes.
  if (pw.length + 1 > bits / 8 - 42) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: `the password is too long for a ${bits}-bit RSA key` });
  const plain = Buffer.alloc(pw.length + 1);
  plain.set(pw, 0);
  for (let i = 0; i < plain.length; i++) plain[i] = (plain[i] as number) ^ (n[i % 20] as number);
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plain);
}

function publicKeyOf(publicKey: string | Uint8Array | KeyObject, what: string): KeyObject {
  let key: KeyObject;
  if (typeof publicKey === 'string' || publicKey instanceof Uint8Array) {
    if (publicKey.length > MAX_SERVER_PUBLIC_KEY_BYTES) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the public key is too long' });
    try {
      key = createPublicKey({ key: Buffer.from(publicKey), format: 'pem' });
    } catch {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the public key is not a PEM public key' });
    }
  } else key = publicKey;
  if (key.type !== 'public' || key.asymmetricKeyType !== 'rsa') throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the public key is not an RSA public key' });
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what, reason: 'the RSA key is shorter than 2048 bits' });
  return key;
}
