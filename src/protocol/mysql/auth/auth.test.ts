import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hex, iamdbErrorOf } from '../test-support/hex.js';
import { scrambleCachingSha2Password } from './caching-sha2-password.js';
import { decodeClearPassword, encodeClearPassword } from './clear-password.js';
import { nativePasswordHash, scrambleNativePassword, verifyNativePassword } from './native-password.js';
import { createScramble } from './scramble.js';

// mysql2 is a cross-check here, never a dependency of the codec.
// Its package exports hide lib/, so load the files by path.
const require = createRequire(import.meta.url);
const mysql2Dir = dirname(require.resolve('mysql2'));
const auth41 = require(join(mysql2Dir, 'lib/auth_41.js')) as {
  calculateToken(password: string, s1: Buffer, s2: Buffer): Buffer;
  doubleSha1(password: string): Buffer;
};
const sha2 = require(join(mysql2Dir, 'lib/auth_plugins/caching_sha2_password.js')) as {
  calculateToken(password: string, scramble: Buffer): Buffer;
};

const scramble = Buffer.from('Q={wdnz;W$I&!o.7f!l}', 'latin1');

describe('mysql_native_password', () => {
  it('matches the response mysql2 and the mariadb CLI sent for "pw" (captured)', () => {
    expect(scrambleNativePassword('pw', scramble)).toEqual(hex('18 e3 8c 51 aa 5d 47 0e 77 d8 20 bd 36 ca a1 3b 22 1a 5b aa'));
  });

  it('agrees with mysql2 for assorted passwords and scrambles', () => {
    for (const pw of ['a', 'secret', 'pässwörd', 'x'.repeat(500)]) {
      const s = createScramble();
      expect(scrambleNativePassword(pw, s)).toEqual(auth41.calculateToken(pw, s.subarray(0, 8), s.subarray(8)));
    }
    expect(scrambleNativePassword('', scramble)).toHaveLength(0);
  });

  it('hashes like PASSWORD() does', () => {
    // Well-known value of MySQL/MariaDB PASSWORD('password').
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    expect(nativePasswordHash('pw')).toBe(`*${auth41.doubleSha1('pw').toString('hex').toUpperCase()}`);
  });

  it('verifies a response against the stored double SHA1, in constant time', () => {
    const stored = Buffer.from(nativePasswordHash('pw').slice(1), 'hex');
    expect(verifyNativePassword(scrambleNativePassword('pw', scramble), scramble, stored)).toBe(true);
    expect(verifyNativePassword(scrambleNativePassword('pW', scramble), scramble, stored)).toBe(false);
    expect(verifyNativePassword(Buffer.alloc(3), scramble, stored)).toBe(false);
    expect(iamdbErrorOf(() => scrambleNativePassword('pw', Buffer.alloc(8))).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});

describe('caching_sha2_password', () => {
  it('agrees with mysql2, with or without the trailing NUL of the nonce', () => {
    for (const pw of ['a', 'secret', 'pässwörd']) {
      const s = createScramble();
      const expected = sha2.calculateToken(pw, s);
      expect(scrambleCachingSha2Password(pw, s)).toEqual(expected);
      expect(scrambleCachingSha2Password(pw, Buffer.concat([s, hex('00')]))).toEqual(expected);
    }
    expect(scrambleCachingSha2Password('', scramble)).toHaveLength(0);
  });
});

describe('mysql_clear_password', () => {
  it('strips exactly one trailing NUL', () => {
    expect(decodeClearPassword(encodeClearPassword('tok')).toString()).toBe('tok');
    expect(decodeClearPassword(Buffer.from('tok')).toString()).toBe('tok');
    expect(decodeClearPassword(hex('00'))).toHaveLength(0);
    expect(iamdbErrorOf(() => decodeClearPassword(Buffer.from('tok\0\0'))).code).toBe('PROTO_MYSQL_MALFORMED');
    expect(iamdbErrorOf(() => decodeClearPassword(Buffer.from('a\0b\0'))).code).toBe('PROTO_MYSQL_MALFORMED');
  });

  it('accepts 8 KiB and refuses more', () => {
    expect(decodeClearPassword(Buffer.concat([Buffer.alloc(8192, 0x41), hex('00')]))).toHaveLength(8192);
    expect(iamdbErrorOf(() => decodeClearPassword(Buffer.alloc(8193, 0x41))).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
  });
});

it('createScramble gives 20 printable bytes without NUL', () => {
  for (let i = 0; i < 50; i++) {
    const s = createScramble();
    expect(s).toHaveLength(20);
    for (const b of s) expect(b >= 0x21 && b <= 0x7e).toBe(true);
  }
});
