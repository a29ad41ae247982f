/**
 * AuthMoreData (0x01 + data): extra auth round trips, e.g. caching_sha2's
 * fast-auth result (0x03 success, 0x04 full auth needed) or a public key.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_more_data.html
 */
import { IamdbError } from '../../../errors/index.js';
import { PacketHeader } from '../constants.js';

/** A decoded AuthMoreData. */
export interface AuthMoreData {
  readonly type: 'AuthMoreData';
  readonly data: Buffer;
}

/** Decodes AuthMoreData. */
export function decodeAuthMoreData(payload: Uint8Array): AuthMoreData {
  if (payload[0] !== PacketHeader.AUTH_MORE_DATA) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', {
      what: 'AuthMoreData',
      header: payload.length === 0 ? 'none (empty packet)' : `0x${(payload[0] as number).toString(16)}`,
    });
  }
  return { type: 'AuthMoreData', data: Buffer.from(payload.subarray(1)) };
}

/** Encodes AuthMoreData. */
export function encodeAuthMoreData(value: { readonly data: Uint8Array }): Buffer {
  const out = Buffer.allocUnsafe(1 + value.data.length);
  out[0] = PacketHeader.AUTH_MORE_DATA;
  out.set(value.data, 1);
  return out;
}
