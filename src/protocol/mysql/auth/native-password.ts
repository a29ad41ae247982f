/**
 * mysql_native_password: the client proves knowledge of SHA1(password) using
 * the server's 20-byte scramble; the server stores SHA1(SHA1(password)),
 * shown as '*' + 40 uppercase hex digits.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods_native_password_authentication.html
 * @see https://mariadb.com/kb/en/connection/#mysql_native_password-plugin
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { IamdbError } from '../../../errors/index.js';

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function bytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

/** Only the first 20 bytes of a longer nonce (with its trailing NUL) take part. */
function nonce20(scramble: Uint8Array): Uint8Array {
  if (scramble.length < 20) {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
      what: 'mysql_native_password response',
      reason: 'the scramble must be at least 20 bytes',
    });
  }
  return scramble.subarray(0, 20);
}

/**
 * SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); an empty password
 * gives an empty response, as clients send.
 *
 * @example scrambleNativePassword('pw', handshake.authPluginData)
 */
export function scrambleNativePassword(password: string | Uint8Array, scramble: Uint8Array): Buffer {
  const pw = bytes(password);
  if (pw.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(pw);
  const mask = sha1(nonce20(scramble), sha1(stage1));
  for (let i = 0; i < 20; i++) mask[i] = (mask[i] as number) ^ (stage1[i] as number);
  return mask;
}

/**
 * '*' + uppercase hex SHA1(SHA1(password)), the form accepted by
 * `IDENTIFIED BY PASSWORD '*...'`.
 * @example nativePasswordHash('pw')
 */
export function nativePasswordHash(password: string | Uint8Array): string {
  return `*${sha1(sha1(bytes(password))).toString('hex').toUpperCase()}`;
}

/** Pattern of a native password hash. */
export const NATIVE_PASSWORD_HASH_PATTERN = /^\*[0-9A-F]{40}$/;

/**
 * Server-side check of a native scramble response against a stored
 * SHA1(SHA1(password)) (20 bytes), in constant time.
 */
export function verifyNativePassword(response: Uint8Array, scramble: Uint8Array, doubleSha1: Uint8Array): boolean {
  if (response.length !== 20 || doubleSha1.length !== 20) return false;
  const mask = sha1(nonce20(scramble), doubleSha1);
  for (let i = 0; i < 20; i++) mask[i] = (mask[i] as number) ^ (response[i] as number);
  return timingSafeEqual(sha1(mask), doubleSha1);
}

/**
 * Server-side check of a native scramble response against the cleartext
 * password (RDS Proxy holds it, from the secret): an empty password takes
 * only an empty response, as servers do.
 *
 * @example verifyNativePasswordWithCleartext(response, greetingScramble, secret.reveal())
 */
export function verifyNativePasswordWithCleartext(response: Uint8Array, scramble: Uint8Array, password: string | Uint8Array): boolean {
  const pw = bytes(password);
  if (pw.length === 0) return response.length === 0;
  return verifyNativePassword(response, scramble, sha1(sha1(pw)));
}
