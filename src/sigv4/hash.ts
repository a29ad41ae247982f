import { createHash, createHmac, type BinaryLike } from 'node:crypto';

/** hex(SHA-256(data)), the digest SigV4 uses for the canonical request. */
export function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** HMAC-SHA-256 of a UTF-8 string; the one primitive of the signing chain. */
export function hmacSha256(key: BinaryLike, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
