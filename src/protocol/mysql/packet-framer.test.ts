import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../../errors/index.js';
import { PacketFramer, encodePacket, nextSequenceId, type MysqlPacket } from './packet-framer.js';
import { hex, iamdbErrorOf, splits } from './test-support/hex.js';

const MAX = 0xffffff;

function frameAll(chunks: Buffer[], framer = new PacketFramer()): MysqlPacket[] {
  const out: MysqlPacket[] = [];
  for (const c of chunks) out.push(...framer.push(c));
  framer.end();
  return out;
}

// COM_PING (seq 0) then COM_QUERY "SELECT 1" (seq 0), as a client sends them;
// the capture had them in one segment split after the first header ('|').
const golden = hex('01 00 00 00 | 0e   09 00 00 00 03 53 45 4c 45 43 54 20 31');

describe('PacketFramer', () => {
  it('yields the same packets however the golden stream is split', () => {
    for (const chunks of splits(golden)) {
      const packets = frameAll(chunks);
      expect(packets.map((p) => [p.sequenceId, p.payload.toString('hex')])).toEqual([
        [0, '0e'],
        [0, '0353454c4543542031'],
      ]);
    }
  });

  it('returns a view of the chunk for a single-frame payload (no copy)', () => {
    // Chunks of 1 KiB or less are coalesced into a staging buffer; larger ones are not copied.
    const chunk = encodePacket(Buffer.alloc(5000, 3), 0);
    const [packet] = new PacketFramer().push(chunk);
    expect(packet?.payload.buffer).toBe(chunk.buffer);
    expect(packet?.payload.byteOffset).toBe(chunk.byteOffset + 4);
  });

  it('reassembles a 0xFFFFFF continuation and numbers the frames', () => {
    const payload = Buffer.alloc(MAX + 10, 7);
    payload[MAX + 9] = 9;
    const wire = encodePacket(payload, 3);
    expect(wire.length).toBe(payload.length + 8);
    expect(wire.subarray(0, 4)).toEqual(hex('ff ff ff 03'));
    expect(wire.subarray(MAX + 4, MAX + 8)).toEqual(hex('0a 00 00 04'));
    const cuts = [1, 3, 4, 5, MAX, MAX + 4, MAX + 5, MAX + 7, MAX + 8, wire.length - 1];
    for (const cut of cuts) {
      const packets = frameAll([wire.subarray(0, cut), wire.subarray(cut)], new PacketFramer({ maxAllowedPacket: MAX + 10 }));
      expect(packets).toHaveLength(1);
      expect(packets[0]?.frames).toBe(2);
      expect(packets[0]?.sequenceId).toBe(3);
      expect(packets[0]?.lastSequenceId).toBe(4);
      expect(packets[0]?.payload.equals(payload)).toBe(true);
    }
    expect(nextSequenceId(payload.length, 3)).toBe(5);
  });

  it('appends an empty frame when the payload is an exact multiple of 0xFFFFFF', () => {
    const payload = Buffer.alloc(MAX, 1);
    const wire = encodePacket(payload, 255);
    expect(wire.length).toBe(MAX + 8);
    expect(wire.subarray(MAX + 4)).toEqual(hex('00 00 00 00')); // seq wraps 255 -> 0
    const packets = frameAll([wire]);
    expect(packets[0]?.payload.length).toBe(MAX);
    expect(packets[0]?.lastSequenceId).toBe(0);
    expect(nextSequenceId(MAX, 255)).toBe(1);
  });

  it('encodes an empty payload as one empty frame', () => {
    expect(encodePacket(Buffer.alloc(0), 2)).toEqual(hex('00 00 00 02'));
  });

  it('rejects an oversize packet from its header alone, before the body arrives', () => {
    const framer = new PacketFramer({ maxAllowedPacket: 1024 });
    const err = iamdbErrorOf(() => framer.push(hex('01 04 00 00')));
    expect(err.code).toBe('PROTO_MYSQL_PACKET_TOO_LARGE');
    expect(framer.bufferedBytes).toBeLessThanOrEqual(4);
  });

  it('counts the limit across continuations', () => {
    // max 0xFFFFFF + 5: a first full frame passes, a second frame header of 6 fails at once.
    const framer = new PacketFramer({ maxAllowedPacket: MAX + 5 });
    expect(framer.push(Buffer.concat([hex('ff ff ff 00'), Buffer.alloc(MAX)]))).toEqual([]);
    expect(iamdbErrorOf(() => framer.push(hex('06 00 00 01'))).code).toBe('PROTO_MYSQL_PACKET_TOO_LARGE');
  });

  it('rejects a continuation frame with a wrong sequence id', () => {
    const framer = new PacketFramer();
    framer.push(Buffer.concat([hex('ff ff ff 00'), Buffer.alloc(MAX)]));
    expect(iamdbErrorOf(() => framer.push(hex('00 00 00 02'))).code).toBe('PROTO_MYSQL_SEQUENCE_MISMATCH');
  });

  it('checks the expected sequence id of the next packet only', () => {
    const framer = new PacketFramer({ expectedSequenceId: 1 });
    expect(framer.push(hex('01 00 00 01 0e'))).toHaveLength(1);
    expect(framer.push(hex('01 00 00 07 0e'))).toHaveLength(1); // unchecked again
    framer.expectSequenceId(3);
    expect(iamdbErrorOf(() => framer.push(hex('01 00 00 02 0e'))).code).toBe('PROTO_MYSQL_SEQUENCE_MISMATCH');
  });

  it('reports a stream that ends inside a packet', () => {
    const framer = new PacketFramer();
    framer.push(hex('05 00 00 00 03 41'));
    expect(framer.hasPartialPacket).toBe(true);
    expect(iamdbErrorOf(() => framer.end()).code).toBe('PROTO_MYSQL_STREAM_ENDED');
  });

  it('coalesces one-byte chunks without losing data', () => {
    const payload = Buffer.alloc(70_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const wire = Buffer.concat([encodePacket(payload, 0), encodePacket(Buffer.from('x'), 1)]);
    const framer = new PacketFramer();
    const out: MysqlPacket[] = [];
    for (let i = 0; i < wire.length; i++) out.push(...framer.push(wire.subarray(i, i + 1)));
    expect(out).toHaveLength(2);
    expect(out[0]?.payload.equals(payload)).toBe(true);
    expect(out[1]?.payload.toString()).toBe('x');
  });

  it('refuses bad options and arguments with IamdbError', () => {
    expect(isIamdbError(iamdbErrorOf(() => new PacketFramer({ maxAllowedPacket: 0 })))).toBe(true);
    expect(iamdbErrorOf(() => encodePacket(Buffer.alloc(1), 256)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});
