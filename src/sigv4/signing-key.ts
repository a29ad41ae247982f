import { createHash } from 'node:crypto';
import { Secret } from '../util/index.js';
import { SCOPE_TERMINATOR } from './constants.js';
import { hmacSha256 } from './hash.js';

/**
 * The SigV4 signing key:
 * HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
 * Pure and uncached; see SigningKeyCache for the cached path.
 *
 * @param shortDate the scope date, `YYYYMMDD`
 * @example deriveSigningKey(new Secret('skid'), '20161107', 'us-east-1', 'rds-db')
 */
export function deriveSigningKey(
  secretAccessKey: Secret<string>,
  shortDate: string,
  region: string,
  service: string,
): Buffer {
  const kDate = hmacSha256(`AWS4${secretAccessKey.reveal()}`, shortDate);
  const kRegion = hmacSha256(kDate, region);
  const kService = hmacSha256(kRegion, service);
  return hmacSha256(kService, SCOPE_TERMINATOR);
}

/**
 * SHA-256 (hex) of each Secret object's value, remembered per object: the
 * directory hands out the same Secret for a key on every login, and a
 * Secret's value never changes (a rotated key is a new Secret). Only plain
 * Secrets are remembered, so a subclass with a reveal() of its own is always
 * hashed afresh. Weak: a dropped Secret takes its entry with it.
 */
const secretHashes = new WeakMap<Secret<string>, string>();

function hashOfSecret(secret: Secret<string>): string {
  const plain = Object.getPrototypeOf(secret) === Secret.prototype;
  let h = plain ? secretHashes.get(secret) : undefined;
  if (h === undefined) {
    h = createHash('sha256').update(secret.reveal(), 'utf8').digest('hex');
    if (plain) secretHashes.set(secret, h);
  }
  return h;
}

/** Default number of signing keys a cache keeps. */
export const DEFAULT_SIGNING_KEY_CACHE_SIZE = 256;

/**
 * A small, bounded LRU of signing keys. A key only changes once a day per
 * (secret, region, service), so verifying many tokens from the same caller
 * costs one HMAC instead of five.
 *
 * Entries are keyed by SHA-256 of the secret, never the secret itself, so the
 * map's keys reveal nothing if the process is inspected; the cached value is
 * a derived key scoped to one day, region and service.
 *
 * @example
 *   const cache = new SigningKeyCache(64);
 *   const key = cache.get(secret, '20161107', 'us-east-1', 'rds-db');
 */
export class SigningKeyCache {
  readonly #max: number;
  // Map iteration order is insertion order: re-inserting on a hit makes the
  // first entry the least recently used.
  readonly #entries = new Map<string, Buffer>();

  constructor(maxEntries: number = DEFAULT_SIGNING_KEY_CACHE_SIZE) {
    this.#max = Math.max(1, Math.floor(maxEntries));
  }

  /** Number of cached keys; for tests and metrics. */
  get size(): number {
    return this.#entries.size;
  }

  /** The signing key for this scope, derived on a miss. */
  get(secretAccessKey: Secret<string>, shortDate: string, region: string, service: string): Buffer {
    const secretHash = hashOfSecret(secretAccessKey);
    const id = `${secretHash}\n${shortDate}\n${region}\n${service}`;
    const hit = this.#entries.get(id);
    if (hit !== undefined) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      // A copy, so a caller cannot corrupt the cached key.
      return Buffer.from(hit);
    }
    const key = deriveSigningKey(secretAccessKey, shortDate, region, service);
    this.#entries.set(id, key);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return Buffer.from(key);
  }

  /** Forgets every key, e.g. after credentials rotate. */
  clear(): void {
    this.#entries.clear();
  }
}
