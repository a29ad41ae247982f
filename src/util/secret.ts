import { timingSafeEqual, createHash } from 'node:crypto';

/**
 * A value that must never be printed: tokens, passwords, secret keys. It
 * renders as `[REDACTED]` through every path Node uses to stringify (String(),
 * JSON, util.inspect, template literals); `.reveal()` is the only way out, so
 * every use of the raw value is easy to find with grep.
 */
export class Secret<T = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return '[REDACTED]';
  }
  toJSON(): string {
    return '[REDACTED]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([REDACTED])';
  }
}

/**
 * Constant-time equality for two byte strings of possibly different lengths.
 * Lengths are compared first (length is not secret here); equal-length inputs
 * go through crypto.timingSafeEqual.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * Constant-time equality of two strings whatever their lengths: both are
 * hashed first so neither the content nor the length of a secret leaks.
 */
export function constantTimeEqualStrings(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
