import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../../errors/index.js';
import { ByteReader } from './byte-reader.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isIamdbError(err) ? err.code : `non-IamdbError: ${String(err)}`;
  }
  return undefined;
}

describe('ByteReader', () => {
  it('reads big-endian integers of each width', () => {
    const r = new ByteReader(Buffer.from([0xff, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01]));
    expect(r.int8()).toBe(-1);
    expect(r.int16()).toBe(-32768);
    expect(r.uint16()).toBe(0xff);
    expect(r.int32()).toBe(-2);
    expect(r.uint16()).toBe(0);
    expect(r.uint8()).toBe(1);
    expect(r.remaining).toBe(0);
  });

  it('reads 0xffffffff as 4 GiB - 1 with uint32, never as -1', () => {
    const r = new ByteReader(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(r.uint32()).toBe(0xffffffff);
  });

  it('respects byteOffset: reads the view, not the backing ArrayBuffer', () => {
    const backing = new Uint8Array([9, 9, 9, 0, 0, 0, 7, 9, 9]);
    const view = backing.subarray(3, 7);
    const r = new ByteReader(view);
    expect(r.int32()).toBe(7);
    expect(codeOf(() => r.uint8())).toBe('PROTO_TRUNCATED');
  });

  it('throws PROTO_TRUNCATED, not RangeError, when reading past the end', () => {
    expect(codeOf(() => new ByteReader(Buffer.from([1, 2, 3])).int32())).toBe('PROTO_TRUNCATED');
    expect(codeOf(() => new ByteReader(Buffer.alloc(0)).uint8())).toBe('PROTO_TRUNCATED');
    expect(codeOf(() => new ByteReader(Buffer.alloc(2)).bytes(3))).toBe('PROTO_TRUNCATED');
  });

  it('limits reads to [start, end) of the given bytes', () => {
    const r = new ByteReader(Buffer.from('xxabc\0yy'), 'test', 2, 6);
    expect(r.cstring()).toBe('abc');
    expect(r.remaining).toBe(0);
  });

  it('does not find a NUL that lies beyond the view', () => {
    const backing = Buffer.from('abc\0');
    const r = new ByteReader(backing.subarray(0, 3));
    expect(codeOf(() => r.cstring())).toBe('PROTO_TRUNCATED');
  });

  it('enforces a cstring maximum length', () => {
    expect(new ByteReader(Buffer.from('abcd\0')).cstring({ max: 4 })).toBe('abcd');
    expect(codeOf(() => new ByteReader(Buffer.from('abcde\0')).cstring({ max: 4 }))).toBe('PROTO_STRING_TOO_LONG');
    expect(codeOf(() => new ByteReader(Buffer.from('abcd')).cstring({ max: 4 }))).toBe('PROTO_TRUNCATED');
  });

  it('rejects invalid UTF-8 only in strict mode', () => {
    const bytes = Buffer.from([0x61, 0xff, 0x00]);
    expect(new ByteReader(bytes).cstring()).toBe('a\ufffd');
    expect(codeOf(() => new ByteReader(bytes).cstring({ strict: true }))).toBe('PROTO_BAD_ENCODING');
  });

  it('returns byte runs as views without copying', () => {
    const buf = Buffer.from([1, 2, 3, 4]);
    const run = new ByteReader(buf).bytes(2);
    expect(run.buffer).toBe(buf.buffer);
    expect([...run]).toEqual([1, 2]);
  });

  it('expectEnd reports trailing bytes', () => {
    const r = new ByteReader(Buffer.from([1, 2]));
    r.uint8();
    expect(codeOf(() => r.expectEnd())).toBe('PROTO_TRAILING_BYTES');
  });

  it('can be reset and reused', () => {
    const r = new ByteReader(Buffer.from([1]));
    expect(r.uint8()).toBe(1);
    r.reset(Buffer.from([0, 2]));
    expect(r.int16()).toBe(2);
  });

  it('rejects a negative byte count', () => {
    expect(codeOf(() => new ByteReader(Buffer.alloc(4)).bytes(-1))).toBe('PROTO_BAD_LENGTH');
  });
});
