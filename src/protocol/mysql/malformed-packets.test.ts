/**
 * The nine malformed packets of ProxySQL's stability test, sent right after
 * the server greeting in place of a HandshakeResponse41. ProxySQL expects the
 * connection to close; here every one must end in an IamdbError from the
 * framer (at once or when the stream ends) or from the decoder, never a
 * hang, another exception or a login.
 *
 * Vectors re-typed from sysown/proxysql test/tap/tests/mysql-test_malformed_packet-t.cpp.
 */
import { describe, expect, it } from 'vitest';
import { IamdbError } from '../../errors/index.js';
import { PacketFramer } from './packet-framer.js';
import { decodeClientHandshake } from './packets/handshake-response-41.js';
import { hex } from './test-support/hex.js';

const vectors: [string, string][] = [
  ['truncated header (2 bytes)', '01 00'],
  ['0xFFFFFF length, seq 0, almost no body', 'ff ff ff 00 00 fe 00 00'],
  ['length 3, seq 255, short body', '03 00 00 ff 00'],
  ['length 16, seq 0, garbage body of 11', '10 00 00 00 de ad be ef ca fe 11 22 33 44 55'],
  ['length 3, seq 0, body ff 00 (2 bytes)', '03 00 00 00 ff 00'],
  ['0xFFFFFF length, seq 255, no body', 'ff ff ff ff 00 00 00 00'],
  ['length 5, seq 0, body ff 00 00 00', '05 00 00 00 ff 00 00 00'],
  ['length 4, seq 255, body 00 00 00', '04 00 00 ff 00 00 00'],
  ['length 3, seq 0, "/*" + 0xE0 body', '03 00 00 2f 2a e0 00'],
];

/** What the front door does with the client's first packet: frame (expecting seq 1), decode, then EOF. */
function frontDoor(bytes: Buffer): void {
  const framer = new PacketFramer({ maxAllowedPacket: 16 * 1024, expectedSequenceId: 1 });
  for (const packet of framer.push(bytes)) decodeClientHandshake(packet.payload);
  framer.end(); // the peer stops sending: a partial packet is an error, not a wait
}

describe("ProxySQL's malformed packets (REFERENCE 6.2 C.31)", () => {
  it.each(vectors)('%s is refused with an IamdbError', (_name, bytes) => {
    let error: unknown;
    try {
      frontDoor(hex(bytes));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IamdbError);
    expect((error as IamdbError).kind).toMatch(/ProtocolViolation|LimitExceeded/);
  });

  it('each is also refused when it arrives one byte at a time', () => {
    for (const [, bytes] of vectors) {
      const b = hex(bytes);
      const framer = new PacketFramer({ maxAllowedPacket: 16 * 1024, expectedSequenceId: 1 });
      expect(() => {
        for (let i = 0; i < b.length; i++) {
          for (const p of framer.push(b.subarray(i, i + 1))) decodeClientHandshake(p.payload);
        }
        framer.end();
      }).toThrow(IamdbError);
    }
  });
});
