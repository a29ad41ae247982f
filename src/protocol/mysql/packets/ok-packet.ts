/**
 * OK packet (0x00), and its 0xFE form that ends result sets under
 * CLIENT_DEPRECATE_EOF. Field presence depends on the negotiated capabilities,
 * so both directions take them.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html
 * @see https://mariadb.com/kb/en/ok_packet/
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, PacketHeader, ServerStatus } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded or to-be-encoded OK packet. */
export interface OkPacket {
  readonly type: 'OK';
  /** 0x00, or 0xFE for the OK that replaces EOF under CLIENT_DEPRECATE_EOF. */
  readonly header: 0x00 | 0xfe;
  readonly affectedRows: number;
  readonly lastInsertId: number;
  readonly statusFlags: number;
  readonly warnings: number;
  /** Human-readable info ("Rows matched: 1 ..."), decoded leniently: it is server text. */
  readonly info: string;
  /** Raw session-state-change block, when SERVER_SESSION_STATE_CHANGED and CLIENT_SESSION_TRACK. */
  readonly sessionStateChanges: Buffer | undefined;
}

const WHAT = 'OK packet';

/**
 * True when a payload is an OK packet under the given capabilities: 0x00, or
 * 0xFE of at least 7 bytes with CLIENT_DEPRECATE_EOF (a shorter 0xFE is EOF).
 */
export function isOkPacket(payload: Uint8Array, capabilityFlags: number): boolean {
  if (payload[0] === PacketHeader.OK) return payload.length >= 3;
  return (
    payload[0] === PacketHeader.EOF &&
    (capabilityFlags & Capability.CLIENT_DEPRECATE_EOF) !== 0 &&
    payload.length >= 7 &&
    payload.length < 0xffffff
  );
}

/** Decodes an OK packet (either header) under the negotiated capabilities. */
export function decodeOkPacket(payload: Uint8Array, capabilityFlags: number): OkPacket {
  const r = new PayloadReader(payload, WHAT);
  const header = r.readFixedLengthInteger(1);
  if (header !== PacketHeader.OK && header !== PacketHeader.EOF) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${header.toString(16)}` });
  }
  const affectedRows = r.readLengthEncodedInteger();
  const lastInsertId = r.readLengthEncodedInteger();
  let statusFlags = 0;
  let warnings = 0;
  if (capabilityFlags & Capability.CLIENT_PROTOCOL_41) {
    statusFlags = r.readFixedLengthInteger(2);
    warnings = r.readFixedLengthInteger(2);
  } else if (capabilityFlags & Capability.CLIENT_TRANSACTIONS) {
    statusFlags = r.readFixedLengthInteger(2);
  }
  let info = '';
  let sessionStateChanges: Buffer | undefined;
  if (capabilityFlags & Capability.CLIENT_SESSION_TRACK) {
    // Servers omit the info string when it is empty and no state changed.
    if (!r.atEnd) info = Buffer.from(r.readLengthEncodedBytes('info')).toString('utf8');
    if (statusFlags & ServerStatus.SERVER_SESSION_STATE_CHANGED && !r.atEnd) {
      sessionStateChanges = Buffer.from(r.readLengthEncodedBytes('session state'));
    }
  } else {
    info = Buffer.from(r.readRestOfPacketBytes()).toString('utf8');
  }
  return {
    type: 'OK',
    header: header as 0x00 | 0xfe,
    affectedRows,
    lastInsertId,
    statusFlags,
    warnings,
    info,
    sessionStateChanges,
  };
}

/** Encodes an OK packet under the negotiated capabilities (fields they exclude are dropped). */
export function encodeOkPacket(
  value: Partial<Omit<OkPacket, 'type'>>,
  capabilityFlags: number,
): Buffer {
  const w = new PayloadWriter(WHAT);
  const status = value.statusFlags ?? ServerStatus.SERVER_STATUS_AUTOCOMMIT;
  w.writeFixedLengthInteger(value.header ?? PacketHeader.OK, 1)
    .writeLengthEncodedInteger(value.affectedRows ?? 0)
    .writeLengthEncodedInteger(value.lastInsertId ?? 0);
  if (capabilityFlags & Capability.CLIENT_PROTOCOL_41) {
    w.writeFixedLengthInteger(status, 2).writeFixedLengthInteger(value.warnings ?? 0, 2);
  } else if (capabilityFlags & Capability.CLIENT_TRANSACTIONS) {
    w.writeFixedLengthInteger(status, 2);
  }
  const info = value.info ?? '';
  if (capabilityFlags & Capability.CLIENT_SESSION_TRACK) {
    const state = value.sessionStateChanges;
    if (state !== undefined && !(status & ServerStatus.SERVER_SESSION_STATE_CHANGED)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
        what: WHAT,
        reason: 'sessionStateChanges need SERVER_SESSION_STATE_CHANGED',
      });
    }
    if (info !== '' || state !== undefined) w.writeLengthEncodedString(info);
    if (state !== undefined) w.writeLengthEncodedString(state);
  } else {
    w.writeRestOfPacketString(info);
  }
  return w.finish();
}
