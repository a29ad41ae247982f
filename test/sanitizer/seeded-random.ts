/**
 * A small seeded random source (mulberry32) for the randomized client driver:
 * the same seed gives the same choices, so a failing run can be replayed.
 */

/** Random choices drawn from one 32-bit seed. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** A new source for sub-task `index`, independent of the order sub-tasks run in. */
  fork(index: number): SeededRandom {
    return new SeededRandom(Math.imul((this.#state ^ 0x9e3779b9) >>> 0, 2654435761) ^ Math.imul(index + 1, 0x85ebca6b));
  }
}
