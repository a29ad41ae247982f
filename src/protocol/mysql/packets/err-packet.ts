/**
 * ERR packet (0xFF, errno, '#' + SQLSTATE, message). Build it with
 * {@link errPacketFor} from the errno table, never from bare numbers.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
 * @see https://mariadb.com/kb/en/err_packet/
 */
import { IamdbError } from '../../../errors/index.js';
import { PacketHeader } from '../constants.js';
import { MysqlError, type MysqlErrorName } from '../errno.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded or to-be-encoded ERR packet. */
export interface ErrPacket {
  readonly type: 'ERR';
  readonly errno: number;
  /**
   * Five-character SQLSTATE, or undefined when the server sent none (errors
   * before the client's capabilities are known, or without CLIENT_PROTOCOL_41).
   */
  readonly sqlState: string | undefined;
  /** Message text, decoded leniently: it is server text in the connection charset. */
  readonly message: string;
}

const WHAT = 'ERR packet';

/**
 * Decodes an ERR packet. MariaDB's progress reports (errno 0xFFFF) have a
 * different body and are refused here; iamdb never announces
 * MARIADB_CLIENT_PROGRESS upstream.
 */
export function decodeErrPacket(payload: Uint8Array): ErrPacket {
  const r = new PayloadReader(payload, WHAT);
  const header = r.readFixedLengthInteger(1);
  if (header !== PacketHeader.ERR) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${header.toString(16)}` });
  }
  const errno = r.readFixedLengthInteger(2);
  if (errno === 0xffff) {
    throw new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: WHAT, feature: 'progress report' });
  }
  let sqlState: string | undefined;
  if (r.peekByte() === 0x23 /* '#' */ && r.remaining >= 6) {
    r.skip(1);
    sqlState = Buffer.from(r.readFixedLengthBytes(5)).toString('latin1');
  }
  return { type: 'ERR', errno, sqlState, message: Buffer.from(r.readRestOfPacketBytes()).toString('utf8') };
}

/** Encodes an ERR packet; the SQLSTATE marker is written when sqlState is given (5 characters). */
export function encodeErrPacket(value: Omit<ErrPacket, 'type'>): Buffer {
  const w = new PayloadWriter(WHAT);
  w.writeFixedLengthInteger(PacketHeader.ERR, 1).writeFixedLengthInteger(value.errno, 2);
  if (value.sqlState !== undefined) {
    if (!/^[0-9A-Z]{5}$/.test(value.sqlState)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: WHAT, reason: 'SQLSTATE must be 5 characters [0-9A-Z]' });
    }
    w.writeFixedLengthInteger(0x23, 1).writeBytes(Buffer.from(value.sqlState, 'latin1'));
  }
  return w.writeRestOfPacketString(value.message).finish();
}

/**
 * An ERR packet for a named server error, with the table's errno and SQLSTATE.
 * @example errPacketFor('ER_ACCESS_DENIED_ERROR', "Access denied for user 'u'@'h' (using password: YES)")
 */
export function errPacketFor(name: MysqlErrorName, message: string): Buffer {
  const { errno, sqlState } = MysqlError[name];
  return encodeErrPacket({ errno, sqlState, message });
}
