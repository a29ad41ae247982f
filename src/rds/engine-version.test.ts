import { describe, expect, it } from 'vitest';
import { engineVersionOf } from './engine-version.js';

describe('engineVersionOf', () => {
  it('keeps the version number RDS reports from what each server announces', () => {
    expect(engineVersionOf('15.8 (Debian 15.8-0+deb12u1)')).toBe('15.8');
    expect(engineVersionOf('16.2')).toBe('16.2');
    expect(engineVersionOf('17beta1')).toBe('17');
    expect(engineVersionOf('8.0.36')).toBe('8.0.36');
    expect(engineVersionOf('8.0.36-0ubuntu0.22.04.1')).toBe('8.0.36');
    expect(engineVersionOf('5.5.5-10.11.6-MariaDB-0+deb12u1')).toBe('10.11.6');
    expect(engineVersionOf('11.4.2-MariaDB')).toBe('11.4.2');
    expect(engineVersionOf('5.7.44-log')).toBe('5.7.44');
  });

  it('says nothing for what is not a version', () => {
    expect(engineVersionOf('')).toBeUndefined();
    expect(engineVersionOf('MariaDB')).toBeUndefined();
  });
});
