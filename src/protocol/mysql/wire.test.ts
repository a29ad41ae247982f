import { describe, expect, it } from 'vitest';
import { PayloadReader, PayloadWriter } from './wire.js';
import { hex, iamdbErrorOf } from './test-support/hex.js';

describe('length-encoded integers', () => {
  it('use 1, 3, 4 or 9 bytes at the documented boundaries', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [250, 'fa'],
      [251, 'fc fb 00'],
      [0xffff, 'fc ff ff'],
      [0x10000, 'fd 00 00 01'],
      [0xffffff, 'fd ff ff ff'],
      [0x1000000, 'fe 00 00 00 01 00 00 00 00'],
      [Number.MAX_SAFE_INTEGER, 'fe ff ff ff ff ff ff 1f 00'],
    ];
    for (const [value, bytes] of cases) {
      const wire = new PayloadWriter('test').writeLengthEncodedInteger(value).finish();
      expect(wire).toEqual(hex(bytes));
      expect(new PayloadReader(wire, 'test').readLengthEncodedInteger()).toBe(value);
    }
  });

  it('refuses 0xFB, 0xFF, truncation and values beyond 2^53', () => {
    for (const bytes of ['fb', 'ff', 'fc 01', 'fd 01 02', 'fe 00 00 00 00 00 00 00', 'fe ff ff ff ff ff ff ff ff', '']) {
      const err = iamdbErrorOf(() => new PayloadReader(hex(bytes), 'test').readLengthEncodedInteger());
      expect(err.kind).toBe('ProtocolViolation');
    }
  });
});

describe('strings', () => {
  it('reads NUL-terminated strings within a bound', () => {
    const r = new PayloadReader(Buffer.from('abc\0de\0'), 'test');
    expect(r.readNulTerminatedString('a', 3)).toBe('abc');
    expect(iamdbErrorOf(() => r.readNulTerminatedString('b', 1)).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
    expect(iamdbErrorOf(() => new PayloadReader(Buffer.from('abc'), 't').readNulTerminatedString('c')).code).toBe(
      'PROTO_MYSQL_UNTERMINATED_STRING',
    );
  });

  it('checks a length-encoded length against the bytes present and the bound', () => {
    expect(iamdbErrorOf(() => new PayloadReader(hex('05 61 62'), 't').readLengthEncodedBytes('x')).code).toBe('PROTO_MYSQL_TRUNCATED');
    expect(iamdbErrorOf(() => new PayloadReader(hex('05 61 62 63 64 65'), 't').readLengthEncodedBytes('x', 4)).code).toBe(
      'PROTO_MYSQL_FIELD_TOO_LONG',
    );
  });

  it('honours byteOffset: reads a view in the middle of a larger buffer', () => {
    const big = Buffer.from('xxxx\x03abc\0yyyy');
    const r = new PayloadReader(big.subarray(4, 9), 't');
    expect(r.readLengthEncodedString('s')).toBe('abc');
    expect(r.readFixedLengthInteger(1)).toBe(0);
    expect(r.atEnd).toBe(true);
  });

  it('refuses to write a NUL inside a NUL-terminated string', () => {
    expect(iamdbErrorOf(() => new PayloadWriter('t').writeNulTerminatedString('a\0b')).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => new PayloadWriter('t').writeFixedLengthInteger(256, 1)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});
