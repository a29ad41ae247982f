/**
 * EOF packet (0xFE, warnings, status; under 9 bytes), which ends column
 * definitions and rows unless CLIENT_DEPRECATE_EOF replaced it with an OK.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_eof_packet.html
 * @see https://mariadb.com/kb/en/eof_packet/
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, PacketHeader } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded or to-be-encoded EOF packet. */
export interface EofPacket {
  readonly type: 'EOF';
  readonly warnings: number;
  readonly statusFlags: number;
}

const WHAT = 'EOF packet';

/** True when the payload is an EOF packet (0xFE and shorter than 9 bytes). */
export function isEofPacket(payload: Uint8Array): boolean {
  return payload[0] === PacketHeader.EOF && payload.length < 9;
}

/** Decodes an EOF packet; without CLIENT_PROTOCOL_41 it carries no fields. */
export function decodeEofPacket(payload: Uint8Array, capabilityFlags: number): EofPacket {
  if (!isEofPacket(payload)) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', {
      what: WHAT,
      header: payload.length === 0 ? 'none (empty packet)' : `0x${(payload[0] as number).toString(16)}`,
    });
  }
  const r = new PayloadReader(payload, WHAT);
  r.skip(1);
  if (!(capabilityFlags & Capability.CLIENT_PROTOCOL_41)) return { type: 'EOF', warnings: 0, statusFlags: 0 };
  const warnings = r.readFixedLengthInteger(2);
  const statusFlags = r.readFixedLengthInteger(2);
  return { type: 'EOF', warnings, statusFlags };
}

/** Encodes an EOF packet. */
export function encodeEofPacket(value: Omit<EofPacket, 'type'>, capabilityFlags: number): Buffer {
  const w = new PayloadWriter(WHAT, 5).writeFixedLengthInteger(PacketHeader.EOF, 1);
  if (capabilityFlags & Capability.CLIENT_PROTOCOL_41) {
    w.writeFixedLengthInteger(value.warnings, 2).writeFixedLengthInteger(value.statusFlags, 2);
  }
  return w.finish();
}
