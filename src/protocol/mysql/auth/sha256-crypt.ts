/**
 * SHA-256 crypt (Ulrich Drepper's "Unix crypt using SHA-256", the `$5$`
 * scheme of glibc and `openssl passwd -5`), which MySQL 8's
 * caching_sha2_password uses for the hash it stores. MySQL's variant takes a
 * salt of 20 bytes where the original caps it at 16; nothing else differs.
 *
 * @see https://www.akkadia.org/drepper/SHA-crypt.txt
 */
import { createHash } from 'node:crypto';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The default and MySQL's (caching_sha2_password_digest_rounds = 5000, shown as `005`). */
export const SHA256_CRYPT_DEFAULT_ROUNDS = 5000;

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `bytes` repeated, cut to `length`. */
function stretch(bytes: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += bytes.length) bytes.copy(out, at, 0, Math.min(bytes.length, length - at));
  return out;
}

/**
 * The digest part of SHA-256 crypt (43 characters of crypt's base64) for
 * `password` and `salt` (used whole: the caller bounds it) after `rounds`
 * rounds.
 */
export function sha256CryptDigest(password: Uint8Array, salt: Uint8Array, rounds = SHA256_CRYPT_DEFAULT_ROUNDS): string {
  const p = Buffer.from(password);
  const s = Buffer.from(salt);
  const b = sha256(p, s, p);
  const a = createHash('sha256').update(p).update(s);
  for (let left = p.length; left > 0; left -= 32) a.update(b.subarray(0, Math.min(32, left)));
  // Each bit of the password's length, lowest first, adds B (1) or the password (0).
  for (let n = p.length; n > 0; n >>>= 1) a.update((n & 1) !== 0 ? b : p);
  let c = a.digest();

  const pBytes = stretch(sha256(...new Array<Buffer>(p.length).fill(p)), p.length);
  const sBytes = stretch(sha256(...new Array<Buffer>(16 + (c[0] as number)).fill(s)), s.length);
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha256');
    h.update((i & 1) !== 0 ? pBytes : c);
    if (i % 3 !== 0) h.update(sBytes);
    if (i % 7 !== 0) h.update(pBytes);
    h.update((i & 1) !== 0 ? c : pBytes);
    c = h.digest();
  }
  return encodeDigest(c);
}

/** The scheme's own byte order and base64 (least significant six bits first). */
function encodeDigest(c: Buffer): string {
  const at = (i: number): number => c[i] as number;
  let out = '';
  const put = (b2: number, b1: number, b0: number, chars: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < chars; k++, w >>>= 6) out += ALPHABET[w & 0x3f];
  };
  for (let i = 0; i < 10; i++) {
    // Groups (0,10,20), (21,1,11), (12,22,2), …: each index steps by 10 mod 30 around the group.
    const first = (i * 21) % 30;
    put(at(first), at((first + 10) % 30), at((first + 20) % 30), 4);
  }
  put(0, at(31), at(30), 3);
  return out;
}
