import { describe, expect, it } from 'vitest';
import { pooledRandomBytes, pooledRandomUint32 } from './random-pool.js';

describe('pooledRandomBytes', () => {
  it('gives buffers of the asked size that do not share memory with the pool or each other', () => {
    const a = pooledRandomBytes(8);
    const b = pooledRandomBytes(8);
    expect(a.length).toBe(8);
    expect(a.equals(b)).toBe(false);
    const before = Buffer.from(b);
    a.fill(0xff);
    // Each value is a copy: writing into one changes no other.
    expect(b.equals(before)).toBe(true);
  });

  it('never hands out the same bytes twice across refills', () => {
    const seen = new Set<string>();
    // 3 pools' worth: crosses refills, including a request that does not fit the pool's tail.
    for (let i = 0; i < 3 * 4096 / 12; i++) seen.add(pooledRandomBytes(12).toString('hex'));
    expect(seen.size).toBe(1024);
  });

  it('spreads bits over the whole range', () => {
    let or = 0;
    let and = 0xffffffff;
    for (let i = 0; i < 2000; i++) {
      const v = pooledRandomUint32();
      expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
      or = (or | v) >>> 0;
      and = (and & v) >>> 0;
    }
    // Every bit was seen set and clear (chance of failing by bad luck: 64 * 2^-2000).
    expect(or).toBe(0xffffffff);
    expect(and).toBe(0);
  });

  it('refuses sizes it was not made for', () => {
    expect(() => pooledRandomBytes(257)).toThrow(RangeError);
    expect(() => pooledRandomBytes(-1)).toThrow(RangeError);
    expect(pooledRandomBytes(0).length).toBe(0);
  });
});
