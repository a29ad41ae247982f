/**
 * COM_QUERY (0x03 + SQL text). With CLIENT_QUERY_ATTRIBUTES the text is
 * preceded by a parameter count; queries that carry attributes are refused,
 * since iamdb does not announce that capability.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html
 * @see https://mariadb.com/kb/en/com_query/
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, Command } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded COM_QUERY. */
export interface ComQuery {
  readonly type: 'ComQuery';
  /** The statement bytes as sent (a view of the payload). */
  readonly sql: Buffer;
}

const WHAT = 'COM_QUERY';

/** Decodes COM_QUERY; `sql` is a view, not a copy. */
export function decodeComQuery(payload: Uint8Array, capabilityFlags = 0): ComQuery {
  const r = new PayloadReader(payload, WHAT);
  const command = r.readFixedLengthInteger(1);
  if (command !== Command.COM_QUERY) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${command.toString(16)}` });
  }
  if (capabilityFlags & Capability.CLIENT_QUERY_ATTRIBUTES) {
    const parameterCount = r.readLengthEncodedInteger();
    r.readLengthEncodedInteger(); // parameter set count, always 1
    if (parameterCount > 0) {
      throw new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: WHAT, feature: 'query attributes' });
    }
  }
  const rest = r.readRestOfPacketBytes();
  return { type: 'ComQuery', sql: Buffer.from(rest.buffer, rest.byteOffset, rest.length) };
}

/** Encodes COM_QUERY (without query attributes). */
export function encodeComQuery(sql: string | Uint8Array): Buffer {
  return new PayloadWriter(WHAT).writeFixedLengthInteger(Command.COM_QUERY, 1).writeRestOfPacketString(sql).finish();
}
