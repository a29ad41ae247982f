/**
 * A small LRU of SCRAM SaltedPassword values.
 *
 * Why: SaltedPassword is PBKDF2-SHA-256 over 4,096+ iterations, a few
 * milliseconds of blocking CPU per upstream login. The gateway logs in to the
 * same servers with the same passwords over and over, and the server repeats
 * the same salt and iteration count for a role, so caching the result makes
 * repeated logins cheap.
 *
 * The key is never the password: it is an HMAC of the prepared password under
 * a random per-cache key, plus the salt and the iteration count. Nothing in
 * the key helps an attacker who reads memory guess the password offline
 * without also reading the HMAC key. The values are credential-equivalent
 * (they let one compute a SCRAM proof), so the cache stays small, lives in
 * memory only, and can be cleared.
 *
 * @module
 */
import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { checkLimit } from '../common/limits.js';

/** Options for {@link SaltedPasswordCache}. */
export interface SaltedPasswordCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 256. */
  readonly maxEntries?: number;
}

/**
 * @example
 *   const cache = new SaltedPasswordCache({ maxEntries: 128 });
 *   new UpstreamLogin({ ..., saltedPasswordCache: cache });
 */
export class SaltedPasswordCache {
  readonly #max: number;
  readonly #hmacKey = randomBytes(32);
  readonly #entries = new Map<string, Buffer>();
  #hits = 0;
  #misses = 0;

  constructor(options: SaltedPasswordCacheOptions = {}) {
    this.#max = checkLimit('maxEntries', options.maxEntries ?? 256, 1, 1_000_000);
  }

  /**
   * Returns SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations),
   * from the cache when present. `password` must already be SASLprep'd.
   */
  derive(password: string, salt: Buffer, iterations: number): Buffer {
    const key = `${createHmac('sha256', this.#hmacKey).update(password, 'utf8').digest('base64')}:${salt.toString('base64')}:${iterations}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#hits++;
      // Refresh recency: Map keeps insertion order, so re-insert at the end.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return Buffer.from(hit);
    }
    this.#misses++;
    const value = computeSaltedPassword(password, salt, iterations);
    this.#entries.set(key, Buffer.from(value));
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.get(oldest)?.fill(0);
      this.#entries.delete(oldest);
    }
    return value;
  }

  /** Entries held, hits and misses so far (for metrics). */
  stats(): { size: number; hits: number; misses: number } {
    return { size: this.#entries.size, hits: this.#hits, misses: this.#misses };
  }

  /** Forgets (and zeroes) every entry, e.g. after a password rotation. */
  clear(): void {
    for (const v of this.#entries.values()) v.fill(0);
    this.#entries.clear();
  }
}

/** PBKDF2-HMAC-SHA-256 with a 32-byte output: SCRAM-SHA-256's Hi(). */
export function computeSaltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
}
