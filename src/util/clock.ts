/**
 * Time comes from a Clock handed in, never from Date.now() in domain code, so
 * tests can pin it.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that stays where it is put; for tests. */
export function fixedClock(at: Date | number): Clock & { set(at: Date | number): void; advance(ms: number): void } {
  let t = typeof at === 'number' ? at : at.getTime();
  return {
    now: () => t,
    set: (v) => {
      t = typeof v === 'number' ? v : v.getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
