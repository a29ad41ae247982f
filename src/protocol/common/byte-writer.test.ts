import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../../errors/index.js';
import { ByteWriter, buildMessage } from './byte-writer.js';

describe('ByteWriter', () => {
  it('fills the reserved length at the end, counting itself but not the type byte', () => {
    const w = new ByteWriter(16);
    w.beginMessage(0x53).cstring('a').cstring('b').endMessage();
    expect(w.finish()).toEqual(Buffer.from([0x53, 0, 0, 0, 8, 0x61, 0, 0x62, 0]));
  });

  it('writes untyped (startup) messages', () => {
    expect(buildMessage(undefined, (w) => w.int32(80877103))).toEqual(Buffer.from('0000000804d2162f', 'hex'));
  });

  it('grows past its initial size', () => {
    const w = new ByteWriter(16);
    const big = Buffer.alloc(10_000, 7);
    w.beginMessage(0x64).bytes(big).endMessage();
    const out = w.finish();
    expect(out.length).toBe(10_005);
    expect(out.readUInt32BE(1)).toBe(10_004);
    expect(out.subarray(5).equals(big)).toBe(true);
  });

  it('writes negative integers in two\'s complement', () => {
    const w = new ByteWriter();
    w.int32(-1).int16(-2).int8(-3);
    expect(w.finish()).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xfd]));
  });

  it('refuses a string holding NUL, which would split the field', () => {
    try {
      new ByteWriter().cstring('user\0database');
      expect.unreachable();
    } catch (err) {
      expect(isIamdbError(err, 'PROTO_UNENCODABLE')).toBe(true);
    }
  });

  it('is empty and reusable after finish', () => {
    const w = new ByteWriter();
    w.int8(1);
    expect(w.finish().length).toBe(1);
    w.int8(2);
    expect(w.finish()).toEqual(Buffer.from([2]));
  });
});
