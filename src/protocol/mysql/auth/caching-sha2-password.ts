/**
 * caching_sha2_password fast path: the client sends
 * XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)); the server answers
 * AuthMoreData 0x03 (fast auth ok) or 0x04 (full auth: over TLS, clear text).
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
 */
import { createHash } from 'node:crypto';

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
