/**
 * Small random values for hot paths (a session id, a cancel key per login):
 * one CSPRNG call fills a pool that many such values are cut from, instead
 * of one call into OpenSSL per value (each a crypto job, a Buffer and a
 * trip through the binding). Node batches randomUUID() the same way.
 *
 * The bytes are the same CSPRNG output randomBytes() gives; every byte is
 * handed out once and wiped from the pool as it leaves, so the pool never
 * holds a value someone already has.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** `n` fresh random bytes (n <= 256), a Buffer of their own. */
export function pooledRandomBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new RangeError('pooledRandomBytes: 0 to 256 bytes');
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/** A random unsigned 32-bit integer from the pool. */
export function pooledRandomUint32(): number {
  if (used + 4 > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const v = pool.readUInt32BE(used);
  pool.fill(0, used, used + 4);
  used += 4;
  return v;
}
