import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sha256CryptDigest } from './sha256-crypt.js';

describe('sha256CryptDigest', () => {
  it('agrees with openssl passwd -5 (16-byte salts, the original scheme)', () => {
    for (const [pw, salt] of [
      ['secret', 'abcdefghijklmnop'],
      ['pässwörd', 'saltsaltsaltsalt'],
      ['x'.repeat(70), '0123456789ABCDEF'],
      ['a', 'Z9'],
    ] as const) {
      const line = execFileSync('openssl', ['passwd', '-5', '-salt', salt, pw], { encoding: 'utf8' }).trim();
      expect(`$5$${salt}$${sha256CryptDigest(Buffer.from(pw), Buffer.from(salt))}`).toBe(line);
    }
  });

  it("matches a hash MySQL 8 stored for 'foobar' (20-byte salt; published vector of TiDB's caching_sha2 tests)", () => {
    const stored = Buffer.from(
      '24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537',
      'hex',
    );
    expect(stored.subarray(0, 7).toString('latin1')).toBe('$A$005$');
    const salt = stored.subarray(7, 27);
    expect(sha256CryptDigest(Buffer.from('foobar'), salt)).toBe(stored.subarray(27).toString('latin1'));
    expect(sha256CryptDigest(Buffer.from('not_foobar'), salt)).not.toBe(stored.subarray(27).toString('latin1'));
  });
});
